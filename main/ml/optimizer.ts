/**
 * SGD with momentum and weight decay, PyTorch semantics (what the reference trains with):
 *   g <- g + weightDecay * theta;  v <- momentum * v + g;  theta <- theta - lr * v
 * (tf.train.MomentumOptimizer has no weight decay and scales differently, hence our own.)
 * Weight decay applies to every parameter, BatchNorm and biases included, as main_moco.py does.
 * Learning-rate schedules follow main_moco.py: the rate is set once per epoch (cosine, or /10 at
 * milestones); the optional linear warm-up (not in the reference) ramps per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedKernels, SGD_MOMENTUM, tryFused } from './fused-kernels.js';

export type LearningRateSchedule =
  | { readonly kind: 'cosine' }
  | { readonly kind: 'step'; readonly milestones: readonly number[]; readonly gamma: number }
  | { readonly kind: 'constant' };

export interface SgdConfig {
  /** Learning rate for this batch size (see scaledLearningRate). */
  readonly learningRate: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly schedule: LearningRateSchedule;
  /** Epochs of linear warm-up from 0 (0 = none, the reference's behaviour). */
  readonly warmupEpochs: number;
}

/** The reference's linear scaling rule: 0.03 per 256 images. */
export const LEARNING_RATE_PER_256 = 0.03;

export function scaledLearningRate(batchSize: number, ratePer256 = LEARNING_RATE_PER_256): number {
  return (ratePer256 * batchSize) / 256;
}

export function validateSgdConfig(config: SgdConfig): void {
  if (!(config.learningRate > 0) || !Number.isFinite(config.learningRate)) throw new Error(`learningRate: must be a positive number, got ${config.learningRate}`);
  if (!(config.momentum >= 0 && config.momentum < 1)) throw new Error(`sgdMomentum: must be in [0, 1), got ${config.momentum}`);
  if (!(config.weightDecay >= 0)) throw new Error(`weightDecay: must be >= 0, got ${config.weightDecay}`);
  if (!(config.warmupEpochs >= 0)) throw new Error(`warmupEpochs: must be >= 0, got ${config.warmupEpochs}`);
  if (config.schedule.kind === 'step' && !(config.schedule.gamma > 0 && config.schedule.gamma <= 1)) {
    throw new Error(`schedule.gamma: must be in (0, 1], got ${config.schedule.gamma}`);
  }
}

/**
 * Learning rate for a step. `epoch` counts from 0; `stepInEpoch` / `stepsPerEpoch` place the step
 * inside the epoch (used by warm-up only).
 */
export function learningRateAt(config: SgdConfig, totalEpochs: number, epoch: number, stepInEpoch: number, stepsPerEpoch: number): number {
  let lr = config.learningRate;
  const schedule = config.schedule;
  if (schedule.kind === 'cosine') {
    lr *= 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(1, totalEpochs)));
  } else if (schedule.kind === 'step') {
    for (const milestone of schedule.milestones) if (epoch >= milestone) lr *= schedule.gamma;
  }
  if (config.warmupEpochs > 0) {
    const progress = (epoch + (stepInEpoch + 1) / Math.max(1, stepsPerEpoch)) / config.warmupEpochs;
    if (progress < 1) lr *= progress;
  }
  return lr;
}

export class SgdMomentum {
  /** Momentum buffers v, one per parameter, created lazily at the first step (as PyTorch does). */
  readonly velocity = new Map<string, tf.Variable>();

  constructor(readonly config: SgdConfig) {
    validateSgdConfig(config);
  }

  /** Applies one update to `parameters` with `gradients` (same names); disposes nothing it does not own. */
  apply(parameters: ReadonlyMap<string, tf.Variable>, gradients: Readonly<Record<string, tf.Tensor>>, learningRate: number): void {
    const { momentum, weightDecay } = this.config;
    tf.tidy(() => {
      for (const [name, theta] of parameters) {
        const grad = gradients[name];
        if (!grad) throw new Error(`No gradient for parameter "${name}"`);
        const previous = this.velocity.get(name);
        // One fused kernel where the backend has it (fused-kernels.ts): the same float32 values as the ops below.
        if (previous && theta.size > 0 && theta.size % 4 === 0 && fusedKernels(SGD_MOMENTUM)) {
          const updated = tryFused(() => tf.engine().runKernel<tf.Tensor[]>(SGD_MOMENTUM, { theta, grad, velocity: previous }, { learningRate, momentum, weightDecay }));
          if (updated) {
            previous.assign(updated[1]!);
            theta.assign(updated[0]!);
            continue;
          }
        }
        const g = weightDecay > 0 ? tf.add(grad, tf.mul(theta, weightDecay)) : grad;
        if (previous) {
          previous.assign(tf.add(tf.mul(previous, momentum), g));
        } else {
          this.velocity.set(name, tf.variable(g, false));
        }
        theta.assign(tf.sub(theta, tf.mul(this.velocity.get(name)!, learningRate)));
      }
    });
  }

  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
    this.velocity.clear();
  }
}
