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
import { fusedBatchNormFits, fusedSplitBatchNorm, type BatchNormEpilogue } from './fused-batch-norm.js';
import { tryFused } from './fused-kernels.js';

export type { BatchNormEpilogue } from './fused-batch-norm.js';

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
 * k for viewing [G, M, C] as [G, M/k, k*C]: the largest divisor of M with k*C <= 1024.
 * Broadcasting a [G, 1, C] vector over [G, M, C] makes the wasm (XNNPACK) element-wise kernels
 * loop over runs of only C elements (a [32,32,32,16] multiply took 0.47 ms instead of 0.07 ms);
 * against the tiled [G, 1, k*C] vector the runs are k*C long and it costs a plain multiply.
 */
export function broadcastRun(perGroup: number, channels: number): number {
  let k = Math.max(1, Math.min(perGroup, Math.floor(1024 / channels)));
  while (perGroup % k !== 0) k--;
  return k;
}

/**
 * Average-pool windows whose product is M (each <= 16 where possible, at most 64), or null
 * when M has a larger prime factor. A huge single window crashes the wasm AvgPool (memory
 * access out of bounds at 4096), hence the cascade of small ones.
 */
export function poolWindows(perGroup: number): number[] | null {
  const windows: number[] = [];
  let rest = perGroup;
  while (rest > 1) {
    let w = 0;
    for (let d = Math.min(16, rest); d >= 2 && w === 0; d--) if (rest % d === 0) w = d;
    for (let d = 17; d <= Math.min(64, rest) && w === 0; d++) if (rest % d === 0) w = d;
    if (w === 0) return null;
    windows.push(w);
    rest /= w;
  }
  return windows;
}

/**
 * Mean over the middle axis of x viewed as [G, M, C] -> [G, 1, C]. tf.mean over a non-trailing
 * axis makes the wasm backend transpose the whole tensor first (its C++ Transpose ran at
 * ~5 ns per element: 2.9 ms for a [32,32,32,16] activation, the largest cost of a width-1/4
 * step). Average pooling reduces NHWC rows in place: a cascade of [1, w] windows costs about
 * two element-wise passes in all, and sums in small blocks (no worse rounding than one long sum).
 */
function groupMeans(x: tf.Tensor, groups: number, perGroup: number, channels: number): tf.Tensor {
  const windows = poolWindows(perGroup);
  if (windows === null) return tf.mean(tf.reshape(x, [groups, perGroup, channels]), 1, true);
  let h = x;
  let rest = perGroup;
  for (const w of windows) {
    rest /= w;
    h = tf.avgPool(tf.reshape<tf.Rank.R4>(h, [groups, rest, w, channels]), [1, w], [1, w], 'valid');
  }
  return tf.reshape(h, [groups, 1, channels]);
}

const NO_EPILOGUE: BatchNormEpilogue = { relu: false };

/**
 * Training-mode split BatchNorm over x [N, H, W, C] (or [N, C] for the MLP head), followed by the
 * epilogue: relu(bn(x) + residual), relu(bn(x)), or none (the default).
 * Updates the running statistics as a side effect (assign keeps the new values alive past tidy).
 */
export function splitBatchNormTrain(x: tf.Tensor, bn: BatchNormVariables, options: BatchNormOptions, epilogue: BatchNormEpilogue = NO_EPILOGUE): tf.Tensor {
  const shape = x.shape;
  const channels = shape[shape.length - 1]!;
  const batch = shape[0];
  const groups = effectiveSplits(batch, options.splits);
  const perGroup = x.size / (groups * channels); // M = (N/G) * H * W
  if (perGroup < 2) {
    throw new Error(`BatchNorm needs at least 2 values per channel and group; got ${perGroup} (batch ${batch}, ${groups} splits)`);
  }
  const eps = options.epsilon;
  const m = options.momentum;
  const unbias = perGroup / (perGroup - 1);
  checkEpilogue('splitBatchNormTrain', shape, epilogue);
  // One kernel each way where the backend has them, and one for the running statistics, with the
  // ReLU and residual inside (fused-batch-norm.ts): about 10, 15 and 18 ops otherwise, and 4-5
  // more for the ReLU and the residual.
  if (fusedBatchNormFits(channels)) {
    const fusedY = tryFused(() => fusedSplitBatchNorm(x, bn, { groups, unbias, epsilon: eps, momentum: m }, epilogue));
    if (fusedY !== undefined) return fusedY;
  }

  const k = broadcastRun(perGroup, channels);
  const rows = perGroup / k;
  // Per-(group, channel) vectors [G, 1, C] repeated k times so that they line up with the
  // [G, M/k, k*C] view of the activations (see broadcastRun).
  // (A broadcast multiply by ones, not tf.tile: the wasm Tile kernel took ~0.4 ms even for these
  // few thousand values.)
  const spread = (v: tf.Tensor): tf.Tensor => {
    if (k === 1) return v;
    const rowsOfV = v.shape[0];
    return tf.reshape(tf.mul(tf.reshape(v, [rowsOfV, 1, 1, channels]), tf.ones([1, 1, k, 1])), [rowsOfV, 1, k * channels]);
  };

  let groupMean: tf.Tensor | undefined;
  let groupVar: tf.Tensor | undefined;
  const ops = tf.customGrad((input, gamma, beta, save) => {
    const xs = input as tf.Tensor;
    const g = tf.reshape(gamma as tf.Tensor1D, [1, 1, channels]);
    const b = tf.reshape(beta as tf.Tensor1D, [1, 1, channels]);
    const xg = tf.reshape(xs, [groups, perGroup, channels]);
    const mean = groupMeans(xg, groups, perGroup, channels); // [G, 1, C]
    const centered = tf.sub(tf.reshape(xg, [groups, rows, k * channels]), spread(mean)); // [G, M/k, kC]
    const variance = groupMeans(tf.square(centered), groups, perGroup, channels); // biased, as used for normalising
    const invstd = tf.rsqrt(tf.add(variance, eps)); // [G, 1, C]
    const scale = tf.mul(invstd, g); // gamma * invstd: one multiply per element instead of two
    const y = tf.reshape(tf.add(tf.mul(centered, spread(scale)), spread(b)), shape);
    groupMean = tf.keep(tf.reshape(mean, [groups, channels]));
    groupVar = tf.keep(tf.reshape(variance, [groups, channels]));
    (save as tf.GradSaveFunc)([centered, invstd, scale]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedCentered, savedInvstd, savedScale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dyg = tf.reshape(dy as tf.Tensor, [groups, rows, k * channels]);
        // With xhat = centered * invstd (never materialised):
        //   mean(dy * xhat) = invstd * mean(dy * centered)
        //   dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat))
        //      = dy * scale + centered * (-scale * invstd * mean(dy * xhat)) - scale * mean(dy)
        const meanDy = groupMeans(dyg, groups, perGroup, channels); // [G, 1, C]
        const meanDyXhat = tf.mul(groupMeans(tf.mul(dyg, savedCentered), groups, perGroup, channels), savedInvstd);
        const dbeta = tf.mul(tf.sum(tf.reshape(meanDy, [groups, channels]), 0), perGroup);
        const dgamma = tf.mul(tf.sum(tf.reshape(meanDyXhat, [groups, channels]), 0), perGroup);
        const centeredCoef = tf.neg(tf.mul(tf.mul(savedScale, savedInvstd), meanDyXhat));
        const offset = tf.neg(tf.mul(savedScale, meanDy));
        const dx = tf.add(tf.add(tf.mul(dyg, spread(savedScale)), tf.mul(savedCentered, spread(centeredCoef))), spread(offset));
        return [tf.reshape(dx, shape), dgamma, dbeta];
      },
    };
  });
  const y = ops(x, bn.gamma, bn.beta);

  // Running statistics: average over groups of the per-group update (identical to updating
  // each split's copy and averaging, as the reference SplitBatchNorm does).
  tf.tidy(() => {
    const batchMean = tf.mean(groupMean!, 0);
    const batchVar = tf.mul(tf.mean(groupVar!, 0), unbias);
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(batchMean, m)));
    bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(batchVar, m)));
  });
  groupMean!.dispose();
  groupVar!.dispose();
  return withEpilogue(y, epilogue);
}

/** A residual needs relu and x's own shape (no broadcasting: it is a block's shortcut). */
function checkEpilogue(caller: string, shape: readonly number[], epilogue: BatchNormEpilogue): void {
  if (epilogue.residual !== undefined && (!epilogue.relu || !tf.util.arraysEqual(epilogue.residual.shape, [...shape]))) {
    throw new Error(`${caller}: a residual needs relu and x's shape [${shape.join(', ')}]; got [${epilogue.residual.shape.join(', ')}]${epilogue.relu ? '' : ' without relu'}`);
  }
}

/** relu(y + residual), relu(y) or y, through tfjs ops. */
function withEpilogue(y: tf.Tensor, epilogue: BatchNormEpilogue): tf.Tensor {
  if (!epilogue.relu) return y;
  return tf.relu(epilogue.residual ? tf.add(y, epilogue.residual) : y);
}

/** Eval-mode BatchNorm with running statistics (one fused kernel), then the epilogue's ops. */
export function batchNormEval(x: tf.Tensor, bn: BatchNormVariables, epsilon: number, epilogue: BatchNormEpilogue = NO_EPILOGUE): tf.Tensor {
  checkEpilogue('batchNormEval', x.shape, epilogue);
  return withEpilogue(tf.batchNorm(x, bn.runningMean, bn.runningVar, bn.beta, bn.gamma, epsilon), epilogue);
}
