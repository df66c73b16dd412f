/**
 * BatchMatMul on wasm (tfjs-core's matMul op dispatches this name; wasm has no `MatMul`).
 *
 * The stock kernel runs ~9x slower than XNNPACK's conv on the same GEMM, and with
 * transposeA/transposeB (what autodiff of matMul emits) it takes a naive loop (~0.6 GFLOP/s).
 * Here a transposed operand is first made row-major by the C++ Transpose (O(size), cheap next
 * to the O(M*N*K) product), and then C = A B runs as a 1x1 conv:
 *   A [M, K] -> x [1, M, 1, K],  B [K, N] -> filter [1, 1, K, N],  out [1, M, 1, N] -> [M, N]
 * Reshapes share buffers, so the only copies are the transposes.
 * A batched A with an unbatched B folds the batch into M. When B itself is batched (no
 * conv-net training step does this), the stock kernel's non-transposed path is used.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gemmKernels, gemmRuns } from './gemm-module.js';
import { asWasm, backendMemory, callStock, matMul, offsetBytes, release, reshape, transpose, type WasmBackend } from './kernel-utils.js';

/** Swaps the last two axes: [..., r, c] -> [..., c, r]. */
function swapLast(backend: WasmBackend, t: tf.TensorInfo): tf.TensorInfo {
  const rank = t.shape.length;
  const perm = t.shape.map((_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return transpose(backend, t, perm);
}

/**
 * `ownGemm`: C = op(A) op(B) on the assembled GEMM of gemm-module.ts, which needs B row-major
 * [K, N] and packs nothing. With transposeB (the backward of MoCo's l_neg = q queue, where B is
 * the [128, 4096] queue), it computes C^T = B op(A)^T instead and transposes the small C, so the
 * big operand is read as it is: XNNPACK packed that 2 MB queue in every call, and transposed it
 * first for transposeB. Where the form chosen by transposeB does not fit the kernel (the
 * product's rows a multiple of 4, its columns of 8), the XNNPACK route runs.
 */
export const matmulOptions = { ownGemm: true };

/** The product [M, N] on the assembled GEMM, or null where it does not apply. A batched A is [M, K] with M = batch * rows. */
function ownGemmProduct(
  backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, m: number, k: number, n: number,
): tf.TensorInfo | null {
  if (transposeA && a.shape.length > 2) return null; // a batch of A^T is not one [M, K] matrix
  const memory = backendMemory(backend);
  const gemm = memory === undefined ? null : gemmKernels(memory);
  if (gemm === null) return null;
  // Direct: C = A' B with A' = op(A) [M, K] and B [K, N]. Swapped: C^T = B A'^T with B stored [N, K].
  const swapped = transposeB;
  const [rows, cols] = swapped ? [n, m] : [m, n];
  if (rows % 4 !== 0 || cols % 8 !== 0) return null;
  // The second operand of the product must be row-major [K, cols]: op(A)^T when swapped, B otherwise.
  const needsTranspose = swapped ? !transposeA : transposeA;
  let aOperand = a;
  if (needsTranspose) {
    const view = reshape(backend, a, transposeA ? [k, m] : [m, k]);
    try {
      aOperand = transpose(backend, view, [1, 0]);
    } finally {
      release(backend, view);
    }
  }
  gemmRuns.matmul++;
  const out = backend.makeOutput([rows, cols], 'float32');
  try {
    const [first, second] = swapped ? [b, aOperand] : [aOperand, b];
    gemm.multiply(offsetBytes(backend, first), offsetBytes(backend, second), offsetBytes(backend, out), rows, cols, k, k * 4, cols * 4, cols * 4);
  } catch (e) {
    release(backend, out);
    throw e;
  } finally {
    if (aOperand !== a) release(backend, aOperand);
  }
  if (!swapped) return out;
  try {
    return transpose(backend, out, [1, 0]);
  } finally {
    release(backend, out);
  }
}

export function batchMatMulWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const stock = (aa: tf.TensorInfo, bb: tf.TensorInfo, tA: boolean, tB: boolean): tf.TensorInfo =>
    callStock('BatchMatMul', backend, { a: aa, b: bb }, { transposeA: tA, transposeB: tB }) as tf.TensorInfo;

  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const m = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const k = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const kB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  const nOut = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || m * k * nOut === 0 || k !== kB) {
    return stock(a, b, transposeA, transposeB); // its own checks and error messages
  }
  const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...outer, m, nOut];

  if (batchB === 1 && matmulOptions.ownGemm) {
    const out = ownGemmProduct(backend, a, b, transposeA, transposeB, batchA * m, k, nOut);
    if (out !== null) {
      const shaped = reshape(backend, out, outShape);
      release(backend, out);
      return shaped;
    }
  }
  const aN = transposeA ? swapLast(backend, a) : a; // [..., M, K]
  const bN = transposeB ? swapLast(backend, b) : b; // [..., K, N]
  try {
    if (batchB !== 1) {
      const out = stock(aN, bN, false, false);
      return { ...out, shape: outShape };
    }
    const y = matMul(backend, aN, bN, batchA * m, k, nOut);
    const out = reshape(backend, y, outShape);
    release(backend, y);
    return out;
  } finally {
    if (aN !== a) release(backend, aN);
    if (bN !== b) release(backend, bN);
  }
}
