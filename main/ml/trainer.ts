/**
 * MocoTrainer: epochs of MoCo steps over images held in memory. Owns the model, the optimiser
 * and the sampling RNG; knows nothing of files, processes or checkpoints (main/trainer/ adds
 * those around it). Batches are full: the last partial batch of an epoch is dropped, as the
 * reference's DataLoader(drop_last=True), so K % N == 0 holds for every enqueue.
 */
import { validateAugmentationConfig, type AugmentationConfig, type RgbImage } from './augment.js';
import { makeTwoCropBatch, type TwoCropBatch } from './batches.js';
import { Moco, type MocoConfig, type StepMetrics } from './moco.js';
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

  /** Trains one epoch; `onStep` sees every step. Returns the epoch's mean loss. */
  trainEpoch(images: readonly RgbImage[], onStep?: (report: StepReport) => void): number {
    const steps = this.stepsPerEpoch(images.length);
    if (steps < 1) throw new Error(`Need at least one full batch: ${images.length} images for batch size ${this.config.batchSize}`);
    const order = this.dataRng.permutation(images.length);
    let lossSum = 0;
    for (let step = 0; step < steps; step++) {
      const started = performance.now();
      const indices = order.slice(step * this.config.batchSize, (step + 1) * this.config.batchSize);
      const batch = makeTwoCropBatch(images, indices, this.config.augmentation, this.dataRng);
      const lr = learningRateAt(this.config.sgd, this.config.epochs, this.epoch, step, steps);
      let metrics: StepMetrics;
      try {
        metrics = this.moco.trainStep(batch.queries, batch.keys, this.optimizer, lr);
      } finally {
        batch.queries.dispose();
        batch.keys.dispose();
      }
      lossSum += metrics.loss;
      this.globalStep++;
      const { queries: _q, keys: _k, ...rest } = batch;
      onStep?.({ epoch: this.epoch, step, globalStep: this.globalStep, stepsPerEpoch: steps, metrics, batch: rest, indices, milliseconds: performance.now() - started });
    }
    this.epoch++;
    return lossSum / steps;
  }

  dispose(): void {
    this.moco.dispose();
    this.optimizer.dispose();
  }
}
