/**
 * Split BatchNorm's fused route (issue 9): where the backend has the fused kernels
 * (fused-kernels.ts, on wasm), one training-mode layer is one kernel forward, one backward and one
 * for its running statistics, and the ReLU after it, with the residual sum before that ReLU, runs
 * inside the same kernels: y = relu(bn(x) + residual). ResNet's convBnRelu and the last
 * BatchNorm of each block, relu(bn(conv(h)) + shortcut), are 17 of ResNet-18's 20 BatchNorms.
 *
 * Through tfjs ops the ReLU was a Relu kernel forward and Step, Cast and Multiply backward, and the
 * residual an Add forward (its backward passes dy on): 4-5 more kernel calls and passes over the
 * activation per layer, plus the tensors the tape saves for them. Fused, the backward masks dy
 * once (dy where y > 0), and that masked dy is also the residual's gradient. (The engine still
 * adds the shortcut's two gradients where the block input fans out.) batch-norm.ts keeps the op
 * route for other backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormVariables } from './batch-norm.js';
import { fusedKernels, RUNNING_STATISTICS, SPLIT_BATCH_NORM, SPLIT_BATCH_NORM_GRAD } from './fused-kernels.js';

/** What follows the normalisation inside the layer: ReLU, with a residual summed before it. */
export interface BatchNormEpilogue {
  readonly relu: boolean;
  /** Summed before the ReLU (same shape as x); only with relu. */
  readonly residual?: tf.Tensor;
}

export interface FusedGeometry {
  readonly groups: number;
  /** M / (M - 1) for M rows (pixels) per group and channel: the running variance is unbiased. */
  readonly unbias: number;
  readonly epsilon: number;
  readonly momentum: number;
}

/**
 * y = epilogue(splitBN(x)) through the fused kernels, with the running statistics of `bn` updated;
 * throws FusedKernelUnavailable (before any update) where the backend's memory cannot be imported.
 */
export function fusedSplitBatchNorm(x: tf.Tensor, bn: BatchNormVariables, geometry: FusedGeometry, epilogue: BatchNormEpilogue): tf.Tensor {
  const { groups, unbias, epsilon, momentum } = geometry;
  const attrs = { groups, epsilon, relu: epilogue.relu };
  let running: tf.Tensor[] | undefined;
  const forward = (input: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, residual: tf.Tensor | undefined, save: tf.GradSaveFunc) => {
    const inputs: tf.NamedTensorMap = { x: input, gamma, beta, ...(residual ? { residual } : {}) };
    const [y, mean, variance] = tf.engine().runKernel<tf.Tensor[]>(SPLIT_BATCH_NORM, inputs, attrs) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const statistics = { runningMean: bn.runningMean, runningVar: bn.runningVar, mean, variance };
    running = tf.engine().runKernel<tf.Tensor[]>(RUNNING_STATISTICS, statistics, { momentum, unbias }).map((t) => tf.keep(t));
    // The backward needs the output for the ReLU's mask.
    save(epilogue.relu ? [input, mean, variance, y] : [input, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedX, savedMean, savedVar, savedY] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        const gradInputs: tf.NamedTensorMap = { dy: dy as tf.Tensor, x: savedX, gamma, mean: savedMean, variance: savedVar, ...(savedY ? { y: savedY } : {}) };
        // [dx, dgamma, dbeta], and with a residual its gradient (the masked dy).
        return tf.engine().runKernel<tf.Tensor[]>(SPLIT_BATCH_NORM_GRAD, gradInputs, { ...attrs, residual: residual !== undefined });
      },
    };
  };
  try {
    const y = epilogue.residual
      ? tf.customGrad((input, gamma, beta, residual, save) => forward(input as tf.Tensor, gamma as tf.Tensor, beta as tf.Tensor, residual as tf.Tensor, save as tf.GradSaveFunc))(x, bn.gamma, bn.beta, epilogue.residual)
      : tf.customGrad((input, gamma, beta, save) => forward(input as tf.Tensor, gamma as tf.Tensor, beta as tf.Tensor, undefined, save as tf.GradSaveFunc))(x, bn.gamma, bn.beta);
    bn.runningMean.assign(running![0]!);
    bn.runningVar.assign(running![1]!);
    return y;
  } finally {
    if (running) tf.dispose(running); // the variables hold their own references
  }
}

/** Whether the current backend runs this layer fused (the kernels are registered, C a multiple of 4). */
export function fusedBatchNormFits(channels: number): boolean {
  return channels % 4 === 0 && fusedKernels(SPLIT_BATCH_NORM, SPLIT_BATCH_NORM_GRAD, RUNNING_STATISTICS);
}
