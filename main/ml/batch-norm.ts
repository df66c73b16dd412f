/**
 * Split BatchNorm: the single-device emulation of MoCo's multi-GPU Shuffle BN (the reference
 * CIFAR demo's SplitBatchNorm, `--bn-splits 8`). In training mode the batch of N is cut into G
 * groups of N/G and each group is normalised with its own mean and variance, exactly as G GPUs
 * with G per-device BatchNorms would. Running statistics are updated with the average of the
 * groups' statistics (PyTorch's convention: momentum 0.1 on the new value, unbiased variance).
 * In eval mode it is an ordinary BatchNorm with the running statistics.
 *
 * The training forward/backward is one `tf.customGrad` op: the textbook closed-form gradient
 *   dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = dy * gamma
 * costs far fewer kernels than autodiff through `moments` (BatchNorm and element-wise ops were
 * 18 % of a step in the first wasm probe).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface BatchNormVariables {
  readonly gamma: tf.Tensor1D; // [C], trainable
  readonly beta: tf.Tensor1D; // [C], trainable
  readonly runningMean: tf.Variable; // [C], buffer
  readonly runningVar: tf.Variable; // [C], buffer
}

export interface BatchNormOptions {
  /** G: number of groups normalised separately in training mode (1 = plain BatchNorm). */
  readonly splits: number;
  /** PyTorch-style momentum for running statistics: running = (1 - momentum) * running + momentum * batch. */
  readonly momentum: number;
  readonly epsilon: number;
}

export const DEFAULT_BN_MOMENTUM = 0.1;
export const DEFAULT_BN_EPSILON = 1e-5;

/** The largest G <= requested that divides the batch, so that odd batch sizes still train. */
export function effectiveSplits(batchSize: number, requested: number): number {
  let g = Math.max(1, Math.min(Math.floor(requested), batchSize));
  while (batchSize % g !== 0) g--;
  return g;
}

/**
 * Training-mode split BatchNorm over x [N, H, W, C] (or [N, C] for the MLP head).
 * Updates the running statistics as a side effect (assign keeps the new values alive past tidy).
 */
export function splitBatchNormTrain(x: tf.Tensor, bn: BatchNormVariables, options: BatchNormOptions): tf.Tensor {
  const shape = x.shape;
  const channels = shape[shape.length - 1]!;
  const batch = shape[0];
  const groups = effectiveSplits(batch, options.splits);
  const perGroup = x.size / (groups * channels); // M = (N/G) * H * W
  if (perGroup < 2) {
    throw new Error(`BatchNorm needs at least 2 values per channel and group; got ${perGroup} (batch ${batch}, ${groups} splits)`);
  }
  const eps = options.epsilon;

  let groupMean: tf.Tensor | undefined;
  let groupVar: tf.Tensor | undefined;
  const op = tf.customGrad((input, gamma, beta, save) => {
    const xs = input as tf.Tensor;
    const g = gamma as tf.Tensor1D;
    const b = beta as tf.Tensor1D;
    const xg = tf.reshape(xs, [groups, perGroup, channels]); // [G, M, C]
    const mean = tf.mean(xg, 1, true); // [G, 1, C]
    const centered = tf.sub(xg, mean);
    const variance = tf.mean(tf.square(centered), 1, true); // biased, as used for normalising
    const invstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(centered, invstd); // [G, M, C]
    const y = tf.reshape(tf.add(tf.mul(xhat, g), b), shape);
    groupMean = tf.keep(tf.reshape(mean, [groups, channels]));
    groupVar = tf.keep(tf.reshape(variance, [groups, channels]));
    (save as tf.GradSaveFunc)([xhat, invstd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedXhat, savedInvstd, savedGamma] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D];
        const dyg = tf.reshape(dy as tf.Tensor, [groups, perGroup, channels]);
        const dbeta = tf.sum(dyg, [0, 1]);
        const dyXhat = tf.mul(dyg, savedXhat);
        const dgamma = tf.sum(dyXhat, [0, 1]);
        // mean(dxhat) = gamma * mean(dy); mean(dxhat * xhat) = gamma * mean(dy * xhat)
        const meanDy = tf.mean(dyg, 1, true);
        const meanDyXhat = tf.mean(dyXhat, 1, true);
        const inner = tf.sub(tf.sub(dyg, meanDy), tf.mul(savedXhat, meanDyXhat));
        const dx = tf.reshape(tf.mul(inner, tf.mul(savedInvstd, savedGamma)), shape);
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = op(x, bn.gamma, bn.beta);

  // Running statistics: average over groups of the per-group update (identical to updating
  // each split's copy and averaging, as the reference SplitBatchNorm does).
  tf.tidy(() => {
    const m = options.momentum;
    const unbias = perGroup / (perGroup - 1);
    const batchMean = tf.mean(groupMean!, 0);
    const batchVar = tf.mul(tf.mean(groupVar!, 0), unbias);
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(batchMean, m)));
    bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(batchVar, m)));
  });
  groupMean!.dispose();
  groupVar!.dispose();
  return y;
}

/** Eval-mode BatchNorm with running statistics (one fused kernel). */
export function batchNormEval(x: tf.Tensor, bn: BatchNormVariables, epsilon: number): tf.Tensor {
  return tf.batchNorm(x, bn.runningMean, bn.runningVar, bn.beta, bn.gamma, epsilon);
}
