/**
 * dW by an im2col GEMM on XNNPACK (conv2d-backprop-filter.ts's routes for the shapes the assembled
 * kernels do not take: the 3-channel stem, Co not a multiple of 8). P [KH*KW*Ci, columns] is the
 * transposed im2col matrix of x (row (kh, kw, c) = channel c of x shifted by the tap and
 * subsampled) and dW = P dy, in chunks of whole images (`dWOptions`) or in one GEMM.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, matMul, offsetF32, release, reshape, sliceCopy, transpose, type WasmBackend } from './kernel-utils.js';

/**
 * Tuning knobs (exported for A/B runs and tests).
 * - `gemmMaxElements`: the im2col GEMM measured faster than the dilated conv on every ResNet-18
 *   shape at batch 32 (e.g. 3x3 64->64 @32: 161 vs 183 ms; 256->256 @8: 81 vs 104 ms), so it is
 *   used whenever one chunk's P fits this many floats (128 MB); beyond that the conv route
 *   avoids the KH*KW-fold copy of x.
 * - `chunkColumns`: P's columns (the reduction, images x output pixels) per GEMM. XNNPACK's GEMM
 *   does not block the reduction: with all N*Ho*Wo columns in one call (32768 for ResNet-18
 *   layer1 at batch 32) every row tile streams the whole [K, Co] "weights" (dy, 8 MB) from L3.
 *   Whole images of at most 4096 columns per GEMM, summed, measured (CPU time, one process,
 *   load ~18, main/bench/gemm-exp.ts): [576,32768]x[32768,64] 262 -> 182 ms, [1152,8192]x
 *   [8192,128] 199 -> 163 ms; 1024 or 512 columns were slower again (per-call costs).
 * - `chunkMinPixels`: chunked only where an image has at least this many output pixels. The
 *   chunked P takes one copy per (row, image) of Ho*Wo values; on smaller planes those copies'
 *   JavaScript overhead outweighs the GEMM's gain. Measured interleaved (`npm run bench:kernels`,
 *   dWChunks, load ~18): stem 3x3 3->64 @32 60 -> 36 ms, layer1 3x3 64->64 @32 286 -> 201 ms,
 *   but layer2 3x3 128->128 @16 (256 pixels) 170 -> 196 ms.
 */
export const dWOptions = { gemmMaxElements: 32 * 2 ** 20, chunkColumns: 4096, chunkMinPixels: 1024 };

export interface Geometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** The most whole images whose output pixels fit `chunkColumns` (a divisor of n, at least 1). */
export function imagesPerChunk(n: number, pixels: number, chunkColumns: number): number {
  let g = Math.max(1, Math.min(n, Math.floor(chunkColumns / pixels)));
  while (n % g !== 0) g--;
  return g;
}

/**
 * Fills P [KH*KW*Ci, g*Ho*Wo] for images n0..n0+g-1: row (kh, kw, c), column (image, oh, ow)
 * holds x[n, oh + kh - top, ow + kw - left, c] (0 in the padding). Stride 1 with Wo = W only
 * (ResNet's padded 3x3 and 1x1 convs). xC is x as [N, Ci, H, W]: a tap is then a constant shift
 * of an H x W plane, so the valid rows are one copyWithin and only the columns that wrapped
 * around from the neighbouring row are zeroed.
 */
function fillIm2colChunk(
  heap: Float32Array,
  xC0: number,
  p0: number,
  dims: { ci: number; h: number; w: number; ho: number },
  g: Geometry,
  n0: number,
  images: number,
): void {
  const { ci, h, w, ho } = dims;
  const plane = h * w;
  const out = ho * w;
  const cols = images * out;
  for (let a = 0; a < g.kh; a++) {
    const oh0 = Math.max(0, g.top - a);
    const oh1 = Math.max(oh0, Math.min(ho, h + g.top - a));
    for (let b = 0; b < g.kw; b++) {
      const ow0 = Math.max(0, g.left - b);
      const ow1 = Math.max(ow0, Math.min(w, w + g.left - b));
      const shift = (a - g.top) * w + (b - g.left);
      const d0 = oh0 * w + ow0;
      const d1 = oh1 > oh0 ? (oh1 - 1) * w + ow1 : d0;
      for (let c = 0; c < ci; c++) {
        const row = p0 + ((a * g.kw + b) * ci + c) * cols;
        for (let i = 0; i < images; i++) {
          const src = xC0 + ((n0 + i) * ci + c) * plane + shift;
          const dst = row + i * out;
          heap.fill(0, dst, dst + d0);
          if (d1 > d0) heap.copyWithin(dst + d0, src + d0, src + d1);
          heap.fill(0, dst + Math.max(d0, d1), dst + out);
          for (let oh = oh0; oh < oh1; oh++) {
            const r = dst + oh * w;
            for (let ow = 0; ow < ow0; ow++) heap[r + ow] = 0;
            for (let ow = ow1; ow < w; ow++) heap[r + ow] = 0;
          }
        }
      }
    }
  }
}

/**
 * dW = sum over chunks of whole images of P_chunk dy_chunk, P the transposed im2col of x (see
 * the file comment). Columns run (image, oh, ow), dy's own row order, so dy is never transposed:
 * a chunk of dy is a contiguous run of its rows. x is transposed once to [N, Ci, H, W].
 */
export function dWByIm2colGemm(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: Geometry,
  images: number,
): tf.TensorInfo {
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const [, ho, wo, co] = dy.shape as [number, number, number, number];
  const rows = g.kh * g.kw * ci;
  const cols = images * ho * wo;
  const xC = transpose(backend, x, [0, 3, 1, 2]); // [N, Ci, H, W]
  let acc: tf.TensorInfo | undefined;
  try {
    for (let n0 = 0; n0 < n; n0 += images) {
      const p = backend.makeOutput([rows, cols], 'float32');
      fillIm2colChunk(heapF32(backend), offsetF32(backend, xC), offsetF32(backend, p), { ci, h, w, ho }, g, n0, images);
      const dyChunk = images === n ? dy : sliceCopy(backend, dy, [n0, 0, 0, 0], [images, ho, wo, co]);
      let part: tf.TensorInfo;
      try {
        part = matMul(backend, p, dyChunk, rows, cols, co); // see matMul: dy is new each call
      } finally {
        release(backend, p);
        if (dyChunk !== dy) release(backend, dyChunk);
      }
      if (acc === undefined) {
        acc = part;
      } else {
        const heap = heapF32(backend);
        const a0 = offsetF32(backend, acc);
        const b0 = offsetF32(backend, part);
        for (let i = 0; i < rows * co; i++) heap[a0 + i]! += heap[b0 + i]!;
        release(backend, part);
      }
    }
  } catch (e) {
    release(backend, acc);
    throw e;
  } finally {
    release(backend, xC);
  }
  const dW = reshape(backend, acc!, [g.kh, g.kw, ci, co]); // rows are (kh, kw, c): already dW's layout
  release(backend, acc);
  return dW;
}
/**
 * dW = P dy^T in one GEMM, columns in (oh, ow, image) order: x is transposed to [Ci, H, W, N] so
 * that each (row, oh) of P is one run of Wo*N values, and dy to [Ho, Wo, N, Co]. Used where the
 * columns fit one chunk (layers 2-4 at 32 px): P is then built in few long copies, where the
 * chunked layout below would take one short copy per (row, image).
 */
export function dWByIm2colGemmSingle(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: Geometry,
): tf.TensorInfo {
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const [, ho, wo, co] = dy.shape as [number, number, number, number];
  const k = ho * wo * n;
  const rows = g.kh * g.kw * ci;
  const xT = transpose(backend, x, [3, 1, 2, 0]); // [Ci, H, W, N]
  const p = backend.makeOutput([rows, k], 'float32');
  const heap = heapF32(backend);
  const xT0 = offsetF32(backend, xT);
  let dst = offsetF32(backend, p);
  const rowRun = wo * n;
  // Valid output columns of a tap: 0 <= ow*sw + kw - left < W.
  for (let a = 0; a < g.kh; a++) {
    for (let b = 0; b < g.kw; b++) {
      const ow0 = Math.max(0, Math.ceil((g.left - b) / g.sw));
      const ow1 = Math.min(wo, Math.floor((w - 1 + g.left - b) / g.sw) + 1); // exclusive
      for (let c = 0; c < ci; c++) {
        for (let oh = 0; oh < ho; oh++) {
          const r = oh * g.sh + a - g.top;
          if (r < 0 || r >= h || ow1 <= ow0) {
            heap.fill(0, dst, dst + rowRun);
          } else {
            heap.fill(0, dst, dst + ow0 * n);
            const src = xT0 + ((c * h + r) * w + (ow0 * g.sw + b - g.left)) * n;
            if (g.sw === 1) {
              heap.copyWithin(dst + ow0 * n, src, src + (ow1 - ow0) * n);
            } else {
              for (let ow = ow0; ow < ow1; ow++) {
                const s = src + (ow - ow0) * g.sw * n;
                heap.copyWithin(dst + ow * n, s, s + n);
              }
            }
            heap.fill(0, dst + ow1 * n, dst + rowRun);
          }
          dst += rowRun;
        }
      }
    }
  }
  release(backend, xT);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]: K in P's (oh, ow, n) order
  let out: tf.TensorInfo;
  try {
    out = matMul(backend, p, dyT, rows, k, co); // see matMul: dy^T is new each call
  } finally {
    release(backend, p, dyT);
  }
  const dW = reshape(backend, out, [g.kh, g.kw, ci, co]); // rows are (kh, kw, c): already dW's layout
  release(backend, out);
  return dW;
}

