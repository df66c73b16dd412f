/**
 * MocoTrainer: epochs of MoCo steps over images held in memory. Owns the model, the optimiser
 * and the sampling RNG; knows nothing of files, processes or checkpoints (main/trainer/ adds
 * those around it). Batches are full: the last partial batch of an epoch is dropped, as the
 * reference's DataLoader(drop_last=True), so K % N == 0 holds for every enqueue.
 */
import * as tf from '@tensorflow/tfjs-core';
import { validateAugmentationConfig, type AugmentationConfig, type RgbImage } from './augment.js';
import { makeTwoCropPixels, type TwoCropBatch, type TwoCropPixels } from './batches.js';
import type { ComputeHost, StepOutcome } from './compute-host.js';
import type { ImageSource } from './image-source.js';
import { Moco, type MocoConfig, type PhaseTimes, type StepMetrics } from './moco.js';
import { learningRateAt, SgdMomentum, type SgdConfig } from './optimizer.js';
import { Rng, type RngState } from './rng.js';

/**
 * Renders two-crop batches elsewhere (the augmentation worker pool, main/trainer/augment-pool.ts):
 * makeTwoCropPixels' result, with every draw made from `rng` before the promise is returned.
 */
export interface ViewRenderer {
  twoCropPixels(images: readonly RgbImage[], indices: ArrayLike<number>, config: AugmentationConfig, rng: Rng): Promise<TwoCropPixels>;
}

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
  /** Per-replica phase times, when the host was asked for them. */
  readonly phasesByReplica?: StepOutcome['phasesByReplica'];
}

/** A batch drawn and augmented, not yet trained on. */
interface PreparedStep {
  readonly images: readonly RgbImage[] | ImageSource;
  readonly step: number;
  readonly steps: number;
  readonly indices: Int32Array;
  readonly pixels: TwoCropPixels;
  readonly learningRate: number;
}

/** The data side before a step was prepared ahead (what a checkpoint taken meanwhile must record). */
export interface DataSideState {
  readonly dataRng: RngState;
  readonly epochOrder: Int32Array | null;
  readonly stepInEpoch: number;
}

export class MocoTrainer {
  private readonly local: { readonly moco: Moco; readonly optimizer: SgdMomentum } | null;
  /** The next step, augmented while the current one computed on a host (trainStepOn). */
  private ahead: { readonly prepared: PreparedStep; readonly before: DataSideState } | null = null;
  /** Draws the epoch order and every augmentation. */
  readonly dataRng: Rng;
  epoch = 0;
  globalStep = 0;
  /** Position inside the current epoch, and its image order: saved so a stop mid-epoch resumes exactly. */
  stepInEpoch = 0;
  epochOrder: Int32Array | null = null;

  /** Where trainStepOn's batches are rendered; null: this thread. */
  private readonly views: ViewRenderer | null;

  /**
   * `localModel: false` when the steps run in a compute host that holds its own model (a worker
   * pool): then this trainer is only the data side, and `moco` / `optimizer` are not available.
   * `views`: render trainStepOn's views there (worker threads) rather than in this thread; the
   * run is the same bit for bit (same draws, same order).
   */
  constructor(readonly config: TrainingConfig, options: { readonly localModel?: boolean; readonly views?: ViewRenderer } = {}) {
    this.views = options.views ?? null;
    validateAugmentationConfig(config.augmentation);
    if (!Number.isInteger(config.epochs) || config.epochs < 1) throw new Error(`epochs: must be an integer >= 1, got ${config.epochs}`);
    this.local = options.localModel === false ? null : { moco: new Moco(config.moco, config.batchSize, config.seed), optimizer: new SgdMomentum(config.sgd) };
    this.dataRng = new Rng(config.seed ^ 0xda7a);
  }

  get moco(): Moco {
    if (!this.local) throw new Error('this trainer has no model in this thread: its steps run in a compute host (ask the host)');
    return this.local.moco;
  }

  get optimizer(): SgdMomentum {
    if (!this.local) throw new Error('this trainer has no model in this thread: its steps run in a compute host (ask the host)');
    return this.local.optimizer;
  }

  /** Epoch order, position and data RNG as of the last completed step (a step prepared ahead is not yet counted). */
  dataSideState(): DataSideState {
    return this.ahead?.before ?? { dataRng: this.dataRng.getState(), epochOrder: this.epochOrder, stepInEpoch: this.stepInEpoch };
  }

  /** Forgets a step prepared ahead, rewinding the data RNG (before a resume, or a change of images). */
  discardPrepared(): void {
    if (!this.ahead) return;
    const { before } = this.ahead;
    this.dataRng.setState(before.dataRng);
    this.epochOrder = before.epochOrder;
    this.stepInEpoch = before.stepInEpoch;
    this.ahead = null;
  }

  stepsPerEpoch(datasetSize: number): number {
    return Math.floor(datasetSize / this.config.batchSize);
  }

  get finished(): boolean {
    return this.epoch >= this.config.epochs;
  }

  /** One MoCo step on the next batch of the current epoch (drawing the epoch's order first if needed), in this thread. */
  async trainStep(images: readonly RgbImage[], phases?: PhaseTimes): Promise<StepReport> {
    this.discardPrepared();
    const started = performance.now();
    const prepared = this.prepareStep(images);
    const { queryPixels, keyPixels } = prepared.pixels;
    const n = this.config.batchSize;
    const s = this.config.augmentation.outputSize;
    const queries = tf.tensor4d(queryPixels, [n, s, s, 3]);
    const keys = tf.tensor4d(keyPixels, [n, s, s, 3]);
    let metrics: StepMetrics;
    try {
      metrics = await this.moco.trainStep(queries, keys, this.optimizer, prepared.learningRate, phases);
    } finally {
      queries.dispose();
      keys.dispose();
    }
    return this.report(prepared, this.completeStep(prepared), { metrics }, started);
  }

  /**
   * One MoCo step run by a compute host. While the host computes, the next batch is drawn and
   * augmented here (issue 9: the input pipeline overlaps compute), in the same RNG order as
   * sequential steps, so a run is the same whichever way it is stepped.
   */
  async trainStepOn(host: ComputeHost, images: readonly RgbImage[] | ImageSource, options: { readonly timePhases?: boolean } = {}): Promise<StepReport> {
    if (this.ahead && this.ahead.prepared.images !== images) this.discardPrepared();
    const started = performance.now();
    const prepared = this.ahead?.prepared ?? await this.prepareStepFrom(images);
    this.ahead = null;
    const { queryPixels, keyPixels } = prepared.pixels;
    const outcome = host.step({ queryPixels, keyPixels, count: this.config.batchSize, imageSize: this.config.augmentation.outputSize }, prepared.learningRate, options);
    const completed = this.completeStep(prepared);
    const before: DataSideState = { dataRng: this.dataRng.getState(), epochOrder: this.epochOrder, stepInEpoch: this.stepInEpoch };
    // The next batch is read (from a store on disk: issue 14) and augmented while the host computes.
    const next = this.finished ? Promise.resolve(null) : this.prepareStepFrom(images);
    let result: StepOutcome;
    let ahead: PreparedStep | null;
    try {
      [result, ahead] = await Promise.all([outcome, next]);
    } catch (error) {
      this.dataRng.setState(before.dataRng);
      this.epochOrder = before.epochOrder;
      this.stepInEpoch = before.stepInEpoch;
      throw error;
    }
    if (ahead) this.ahead = { prepared: ahead, before };
    return this.report(prepared, completed, result, started);
  }

  private async prepareStepFrom(images: readonly RgbImage[] | ImageSource): Promise<PreparedStep> {
    if (Array.isArray(images) && !this.views) return this.prepareStep(images as readonly RgbImage[]);
    const inMemory = Array.isArray(images) ? images as readonly RgbImage[] : null;
    const count = inMemory ? inMemory.length : (images as ImageSource).count;
    // Same RNG order as prepareStep: the epoch's order (when one is due), then the augmentations.
    const { step, steps, indices } = this.nextIndices(count);
    const batch = inMemory ?? await (images as ImageSource).read(indices);
    const at = inMemory ? indices : batch.map((_, i) => i);
    const pixels = this.views
      ? await this.views.twoCropPixels(batch, at, this.config.augmentation, this.dataRng)
      : makeTwoCropPixels(batch, at, this.config.augmentation, this.dataRng);
    const learningRate = learningRateAt(this.config.sgd, this.config.epochs, this.epoch, step, steps);
    return { images, step, steps, indices, pixels, learningRate };
  }

  /** The positions of the next batch, drawing the epoch's order first when a new epoch starts. */
  private nextIndices(count: number): { step: number; steps: number; indices: Int32Array } {
    const steps = this.stepsPerEpoch(count);
    if (steps < 1) throw new Error(`Need at least one full batch: ${count} images for batch size ${this.config.batchSize}`);
    if (this.epochOrder?.length !== count) {
      // A new epoch, or a resumed one whose folder changed size: draw a fresh order.
      this.epochOrder = this.dataRng.permutation(count);
      this.stepInEpoch = 0;
    }
    const step = this.stepInEpoch;
    const n = this.config.batchSize;
    return { step, steps, indices: this.epochOrder.slice(step * n, (step + 1) * n) };
  }

  private prepareStep(images: readonly RgbImage[]): PreparedStep {
    const { step, steps, indices } = this.nextIndices(images.length);
    const pixels = makeTwoCropPixels(images, indices, this.config.augmentation, this.dataRng);
    const learningRate = learningRateAt(this.config.sgd, this.config.epochs, this.epoch, step, steps);
    return { images, step, steps, indices, pixels, learningRate };
  }

  /** Counts a step as done: position, epoch and global step move on. */
  private completeStep(prepared: PreparedStep): { epoch: number; globalStep: number; epochEnded: boolean } {
    const epoch = this.epoch;
    this.globalStep++;
    this.stepInEpoch++;
    const epochEnded = this.stepInEpoch >= prepared.steps;
    if (epochEnded) {
      this.epoch++;
      this.stepInEpoch = 0;
      this.epochOrder = null;
    }
    return { epoch, globalStep: this.globalStep, epochEnded };
  }

  private report(prepared: PreparedStep, done: { epoch: number; globalStep: number; epochEnded: boolean }, outcome: StepOutcome, started: number): StepReport {
    const { params, queryPixels, keyPixels } = prepared.pixels;
    return {
      epoch: done.epoch, step: prepared.step, globalStep: done.globalStep, stepsPerEpoch: prepared.steps, epochEnded: done.epochEnded,
      metrics: outcome.metrics, batch: { params, queryPixels, keyPixels }, indices: prepared.indices, milliseconds: performance.now() - started,
      ...(outcome.phasesByReplica ? { phasesByReplica: outcome.phasesByReplica } : {}),
    };
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
    this.local?.moco.dispose();
    this.local?.optimizer.dispose();
  }
}
