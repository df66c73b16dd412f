/**
 * Training-mode split BatchNorm as two wasm kernels (issue 9), `MocoSplitBatchNorm` (forward) and
 * `MocoSplitBatchNormGrad` (backward), on the passes of batch-norm-module.ts. ml/batch-norm.ts
 * calls them inside its tf.customGrad where they are registered, and keeps its tfjs-op route for
 * every other backend; both compute the same closed forms.
 *
 * x is [..., C] with its rows (pixels) in G equal groups of M rows, each normalised with its own
 * statistics (the biased variance, as for normalising):
 *   forward   mean, var per (group, channel) in two passes; y = (x - mean) * scale + beta with
 *             scale = gamma * invstd, invstd = 1 / sqrt(var + eps).
 *   backward  with S1 = sum dy and S2 = sum dy * (x - mean) per (group, channel):
 *             dbeta = sum over groups of S1, dgamma = sum over groups of S2 * invstd,
 *             dx = dy * scale + (x - mean) * b - scale * S1 / M,  b = -scale * invstd^2 * S2 / M
 *             (x - mean) rather than x * b - mean * b: no cancellation when |mean| >> std.
 * The per-channel arithmetic (G x C values) runs here in JavaScript doubles; its results go to
 * the passes as float32 vectors.
 *
 * `MocoRunningStatistics` is the running-statistics update of the same layer, also per channel in
 * doubles: running = (1 - momentum) * running + momentum * (the groups' average), the variance
 * unbiased. Through tfjs ops it was about 18 kernel calls a layer (means, products, sums, and the
 * casts tfjs adds), over half of a width-1/4 step's 1,405 calls.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchNormPasses, type BatchNormPasses } from './batch-norm-module.js';
import { asWasm, backendMemory, heapF32, offsetBytes, release, type WasmBackend } from './kernel-utils.js';

import { FusedKernelUnavailable, RUNNING_STATISTICS, SPLIT_BATCH_NORM, SPLIT_BATCH_NORM_GRAD } from '../fused-kernels.js';

/** relu: y = max(0, bn(x) [+ residual]) (fused-batch-norm.ts); residual (backward): x had one, so its gradient is a fourth output. */
interface Attrs { groups: number; epsilon: number; relu?: boolean; residual?: boolean }

/** The passes for this backend, or null where its memory cannot be imported (the kernels then throw FusedKernelUnavailable). */
export function splitBatchNormPasses(backend: WasmBackend): BatchNormPasses | null {
  const memory = backendMemory(backend);
  return memory === undefined ? null : batchNormPasses(memory);
}

/** Channels and rows per group; throws unless every tensor is float32, x [..., C] with C a multiple of 4 in `groups` equal groups, and each vector [C]. */
function geometry(x: tf.TensorInfo, groups: number, vectors: tf.TensorInfo[], others: tf.TensorInfo[] = []): { c: number; rows: number } {
  const c = x.shape[x.shape.length - 1] ?? 0;
  const rows = tf.util.sizeFromShape(x.shape) / c / groups;
  const ok = c > 0 && c % 4 === 0 && Number.isInteger(groups) && groups >= 1 && Number.isInteger(rows) && rows >= 1
    && [x, ...vectors, ...others].every((t) => t.dtype === 'float32') && vectors.every((v) => tf.util.sizeFromShape(v.shape) === c)
    && others.every((t) => tf.util.arraysEqual(t.shape, x.shape));
  if (!ok) {
    const shapes = [x, ...vectors, ...others].map((t) => `[${t.shape.join(', ')}] ${t.dtype}`).join(', ');
    throw new Error(`${SPLIT_BATCH_NORM}: needs float32 x [..., C], C a multiple of 4, rows in ${groups} equal groups, and [C] vectors; got ${shapes}`);
  }
  return { c, rows };
}

function passesOf(backend: WasmBackend): BatchNormPasses {
  const passes = splitBatchNormPasses(backend);
  if (passes === null) throw new FusedKernelUnavailable(SPLIT_BATCH_NORM);
  return passes;
}

/** float64 sums [count], zeroed (allocated as 2 * count float32). */
function sums(backend: WasmBackend, count: number): { info: tf.TensorInfo; at: number } {
  const info = backend.makeOutput([2 * count], 'float32');
  const at = offsetBytes(backend, info);
  new Float64Array(backend.wasm.HEAPU8.buffer, at, count).fill(0);
  return { info, at };
}

export function splitBatchNormWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { x, gamma, beta, residual } = args.inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo; residual?: tf.TensorInfo };
  const { groups, epsilon, relu = false } = args.attrs as unknown as Attrs;
  const passes = passesOf(backend);
  if (residual !== undefined && !relu) throw new Error(`${SPLIT_BATCH_NORM}: a residual input needs relu`);
  const { c, rows } = geometry(x, groups, [gamma, beta], residual ? [residual] : []);
  const stride = rows * c * 4;
  let mean: tf.TensorInfo | undefined, variance: tf.TensorInfo | undefined, vectors: tf.TensorInfo | undefined, y: tf.TensorInfo | undefined;
  let s: { info: tf.TensorInfo; at: number } | undefined;
  try {
    mean = backend.makeOutput([groups, c], 'float32');
    variance = backend.makeOutput([groups, c], 'float32');
    vectors = backend.makeOutput([2, groups, c], 'float32'); // scale, beta per group
    s = sums(backend, groups * c);
    y = backend.makeOutput(x.shape, 'float32');
    const [x0, y0, m0, v0, sc0] = [x, y, mean, variance, vectors].map((t) => offsetBytes(backend, t)) as [number, number, number, number, number];
    const f64 = new Float64Array(backend.wasm.HEAPU8.buffer, s.at, groups * c);
    const heap = heapF32(backend);
    for (let g = 0; g < groups; g++) passes.sums(x0 + g * stride, rows, c, s.at + g * c * 8);
    for (let i = 0; i < groups * c; i++) heap[(m0 >> 2) + i] = f64[i]! / rows;
    f64.fill(0);
    for (let g = 0; g < groups; g++) passes.centeredSquares(x0 + g * stride, rows, c, m0 + g * c * 4, s.at + g * c * 8);
    const [g0, b0] = [offsetBytes(backend, gamma) >> 2, offsetBytes(backend, beta) >> 2];
    const shift0 = (sc0 >> 2) + groups * c;
    for (let i = 0; i < groups * c; i++) {
      const v = f64[i]! / rows;
      heap[(v0 >> 2) + i] = v;
      const scale = heap[g0 + (i % c)]! / Math.sqrt(v + epsilon);
      heap[(sc0 >> 2) + i] = scale;
      heap[shift0 + i] = heap[b0 + (i % c)]!;
    }
    const r0 = residual ? offsetBytes(backend, residual) : 0;
    for (let g = 0; g < groups; g++) {
      const vectorsOf = [m0 + g * c * 4, sc0 + g * c * 4, (shift0 + g * c) * 4] as const;
      if (residual) passes.affineAddRelu(x0 + g * stride, r0 + g * stride, y0 + g * stride, rows, c, ...vectorsOf);
      else if (relu) passes.affineRelu(x0 + g * stride, y0 + g * stride, rows, c, ...vectorsOf);
      else passes.affine(x0 + g * stride, y0 + g * stride, rows, c, ...vectorsOf);
    }
  } catch (e) {
    release(backend, y, mean, variance);
    throw e;
  } finally {
    release(backend, vectors, s?.info);
  }
  return [y, mean, variance];
}

export function splitBatchNormGradWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { dy: dyIn, x, gamma, mean, variance, y } = args.inputs as Record<'dy' | 'x' | 'gamma' | 'mean' | 'variance', tf.TensorInfo> & { y?: tf.TensorInfo };
  const { groups, epsilon, relu = false, residual = false } = args.attrs as unknown as Attrs;
  const passes = passesOf(backend);
  if (relu !== (y !== undefined) || (residual && !relu)) throw new Error(`${SPLIT_BATCH_NORM_GRAD}: relu needs the forward's output y (and a residual needs relu)`);
  const { c, rows } = geometry(x, groups, [gamma], y ? [dyIn, y] : [dyIn]);
  if (tf.util.sizeFromShape(mean.shape) !== groups * c || tf.util.sizeFromShape(variance.shape) !== groups * c) {
    throw new Error(`${SPLIT_BATCH_NORM}: the saved mean and variance must be [${groups}, ${c}]; got [${mean.shape.join(', ')}] and [${variance.shape.join(', ')}]`);
  }
  const stride = rows * c * 4;
  let dgamma: tf.TensorInfo | undefined, dbeta: tf.TensorInfo | undefined, vectors: tf.TensorInfo | undefined, dx: tf.TensorInfo | undefined;
  let s: { info: tf.TensorInfo; at: number } | undefined;
  // With the ReLU, the layer's dy is the incoming dy where y > 0 (and that is the residual's gradient too).
  let masked: tf.TensorInfo | undefined;
  try {
    if (y) {
      masked = backend.makeOutput(x.shape, 'float32');
      passes.reluMask(offsetBytes(backend, dyIn), offsetBytes(backend, y), offsetBytes(backend, masked), rows * groups, c);
    }
    const dy = masked ?? dyIn;
    dgamma = backend.makeOutput([c], 'float32');
    dbeta = backend.makeOutput([c], 'float32');
    vectors = backend.makeOutput([3, groups, c], 'float32'); // a, b, shift
    s = sums(backend, 2 * groups * c); // S1 for every group, then S2
    dx = backend.makeOutput(x.shape, 'float32');
    const at = (t: tf.TensorInfo): number => offsetBytes(backend, t) >> 2; // float32 index
    const [dy0, x0, dx0, m0, var0, g0, dg0, db0, vec0] = [at(dy), at(x), at(dx), at(mean), at(variance), at(gamma), at(dgamma), at(dbeta), at(vectors)];
    const s2At = s.at + groups * c * 8;
    for (let g = 0; g < groups; g++) {
      passes.gradientSums((dy0 << 2) + g * stride, (x0 << 2) + g * stride, rows, c, (m0 + g * c) << 2, s.at + g * c * 8, s2At + g * c * 8);
    }
    const f64 = new Float64Array(backend.wasm.HEAPU8.buffer, s.at, 2 * groups * c);
    const heap = heapF32(backend);
    const [a0, b0, shift0] = [vec0, vec0 + groups * c, vec0 + 2 * groups * c];
    const dgammaSum = new Float64Array(c), dbetaSum = new Float64Array(c);
    for (let i = 0; i < groups * c; i++) {
      const ch = i % c;
      const s1 = f64[i]!, s2 = f64[groups * c + i]!;
      const invstd = 1 / Math.sqrt(heap[var0 + i]! + epsilon);
      const scale = heap[g0 + ch]! * invstd;
      dbetaSum[ch]! += s1;
      dgammaSum[ch]! += s2 * invstd;
      const b = -scale * invstd * invstd * s2 / rows;
      heap[a0 + i] = scale;
      heap[b0 + i] = b;
      heap[shift0 + i] = -scale * s1 / rows;
    }
    for (let ch = 0; ch < c; ch++) {
      heap[dg0 + ch] = dgammaSum[ch]!;
      heap[db0 + ch] = dbetaSum[ch]!;
    }
    for (let g = 0; g < groups; g++) {
      const at = (base: number): number => (base + g * c) << 2;
      passes.affine2((dy0 << 2) + g * stride, (x0 << 2) + g * stride, (dx0 << 2) + g * stride, rows, c, at(a0), at(m0), at(b0), at(shift0));
    }
  } catch (e) {
    release(backend, dx, dgamma, dbeta, masked);
    throw e;
  } finally {
    release(backend, vectors, s?.info);
  }
  if (residual) return [dx, dgamma, dbeta, masked!];
  release(backend, masked);
  return [dx, dgamma, dbeta];
}

/**
 * [newMean, newVar] [C] from runningMean, runningVar [C] and the groups' mean and biased variance
 * [G, C] (the forward's second and third outputs); attrs momentum and unbias (M / (M - 1)).
 */
export function runningStatisticsWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { runningMean, runningVar, mean, variance } = args.inputs as Record<'runningMean' | 'runningVar' | 'mean' | 'variance', tf.TensorInfo>;
  const { momentum, unbias } = args.attrs as unknown as { momentum: number; unbias: number };
  const c = tf.util.sizeFromShape(runningMean.shape);
  const groups = c > 0 ? tf.util.sizeFromShape(mean.shape) / c : 0;
  const ok = c > 0 && Number.isInteger(groups) && groups >= 1 && tf.util.sizeFromShape(runningVar.shape) === c
    && tf.util.sizeFromShape(variance.shape) === groups * c && [runningMean, runningVar, mean, variance].every((t) => t.dtype === 'float32');
  if (!ok) {
    const shapes = [runningMean, runningVar, mean, variance].map((t) => `[${t.shape.join(', ')}] ${t.dtype}`).join(', ');
    throw new Error(`${RUNNING_STATISTICS}: needs float32 running mean and variance [C] and group statistics [G, C]; got ${shapes}`);
  }
  const newMean = backend.makeOutput([c], 'float32');
  const newVar = backend.makeOutput([c], 'float32');
  const heap = heapF32(backend); // after the allocations, which may grow the memory
  const at = (t: tf.TensorInfo): number => offsetBytes(backend, t) >> 2;
  const [rm0, rv0, m0, v0, nm0, nv0] = [at(runningMean), at(runningVar), at(mean), at(variance), at(newMean), at(newVar)];
  for (let ch = 0; ch < c; ch++) {
    let sumMean = 0, sumVar = 0;
    for (let g = 0; g < groups; g++) {
      sumMean += heap[m0 + g * c + ch]!;
      sumVar += heap[v0 + g * c + ch]!;
    }
    heap[nm0 + ch] = (1 - momentum) * heap[rm0 + ch]! + momentum * (sumMean / groups);
    heap[nv0 + ch] = (1 - momentum) * heap[rv0 + ch]! + momentum * (sumVar / groups) * unbias;
  }
  return [newMean, newVar];
}
