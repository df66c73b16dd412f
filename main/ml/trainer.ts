/**
 * MocoTrainer: epochs of MoCo steps over images held in memory. Owns the model, the optimiser
 * and the sampling RNG; knows nothing of files, processes or checkpoints (main/trainer/ adds
 * those around it). Batches are full: the last partial batch of an epoch is dropped, as the
 * reference's DataLoader(drop_last=True), so K % N == 0 holds for every enqueue.
 */
import { validateAugmentationConfig, type AugmentationConfig, type RgbImage } from './augment.js';
import { makeTwoCropBatch, type TwoCropBatch } from './batches.js';
import { Moco, type MocoConfig, type PhaseTimes, type StepMetrics } from './moco.js';
import { learningRateAt, SgdMomentum, type SgdConfig } from './optimizer.js';
import { Rng } from './rng.js';

export interface TrainingConfig {
  readonly moco: MocoConfig;
  readonly sgd: SgdConfig;
  readonly augmentation: AugmentationConfig;
  /** N: images per step. */
  readonly batchSize: number;
  readonly epochs: number;
  readonly seed: number;
}

export interface StepReport {
  readonly epoch: number;
  readonly step: number; // within the epoch, from 0
  readonly globalStep: number;
  readonly stepsPerEpoch: number;
  /** True when this step was the epoch's last (the trainer has moved on to the next epoch). */
  readonly epochEnded: boolean;
  readonly metrics: StepMetrics;
  /** The batch just trained on (tensors already disposed; pixels and params remain). */
  readonly batch: Omit<TwoCropBatch, 'queries' | 'keys'>;
  readonly indices: Int32Array;
  readonly milliseconds: number;
}

export class MocoTrainer {
  readonly moco: Moco;
  readonly optimizer: SgdMomentum;
  /** Draws the epoch order and every augmentation. */
  readonly dataRng: Rng;
  epoch = 0;
  globalStep = 0;
  /** Position inside the current epoch, and its image order: saved so a stop mid-epoch resumes exactly. */
  stepInEpoch = 0;
  epochOrder: Int32Array | null = null;

  constructor(readonly config: TrainingConfig) {
    validateAugmentationConfig(config.augmentation);
    if (!Number.isInteger(config.epochs) || config.epochs < 1) throw new Error(`epochs: must be an integer >= 1, got ${config.epochs}`);
    this.moco = new Moco(config.moco, config.batchSize, config.seed);
    this.optimizer = new SgdMomentum(config.sgd);
    this.dataRng = new Rng(config.seed ^ 0xda7a);
  }

  stepsPerEpoch(datasetSize: number): number {
    return Math.floor(datasetSize / this.config.batchSize);
  }

  get finished(): boolean {
    return this.epoch >= this.config.epochs;
  }

  /** One MoCo step on the next batch of the current epoch (drawing the epoch's order first if needed). */
  async trainStep(images: readonly RgbImage[], phases?: PhaseTimes): Promise<StepReport> {
    const steps = this.stepsPerEpoch(images.length);
    if (steps < 1) throw new Error(`Need at least one full batch: ${images.length} images for batch size ${this.config.batchSize}`);
    if (this.epochOrder?.length !== images.length) {
      // A new epoch, or a resumed one whose folder changed size: draw a fresh order.
      this.epochOrder = this.dataRng.permutation(images.length);
      this.stepInEpoch = 0;
    }
    const started = performance.now();
    const step = this.stepInEpoch;
    const n = this.config.batchSize;
    const indices = this.epochOrder.slice(step * n, (step + 1) * n);
    const batch = makeTwoCropBatch(images, indices, this.config.augmentation, this.dataRng);
    const lr = learningRateAt(this.config.sgd, this.config.epochs, this.epoch, step, steps);
    let metrics: StepMetrics;
    try {
      metrics = await this.moco.trainStep(batch.queries, batch.keys, this.optimizer, lr, phases);
    } finally {
      batch.queries.dispose();
      batch.keys.dispose();
    }
    const epoch = this.epoch;
    this.globalStep++;
    this.stepInEpoch++;
    const epochEnded = this.stepInEpoch >= steps;
    if (epochEnded) {
      this.epoch++;
      this.stepInEpoch = 0;
      this.epochOrder = null;
    }
    const { params, queryPixels, keyPixels } = batch;
    return { epoch, step, globalStep: this.globalStep, stepsPerEpoch: steps, epochEnded, metrics, batch: { params, queryPixels, keyPixels }, indices, milliseconds: performance.now() - started };
  }

  /** Trains to the end of the current epoch; `onStep` sees every step. Returns the mean loss of the steps run. */
  async trainEpoch(images: readonly RgbImage[], onStep?: (report: StepReport) => void): Promise<number> {
    let lossSum = 0;
    let count = 0;
    for (;;) {
      const report = await this.trainStep(images);
      lossSum += report.metrics.loss;
      count++;
      onStep?.(report);
      if (report.epochEnded) return lossSum / count;
    }
  }

  dispose(): void {
    this.moco.dispose();
    this.optimizer.dispose();
  }
}
