/**
 * Conv2DBackpropFilter (dW of a conv) on wasm, which has no such kernel (training fails).
 *
 * dW[kh, kw, c, o] = sum_{n, oh, ow} x[n, oh*s + kh - top, ow*s + kw - left, c] * dy[n, oh, ow, o]
 * is itself a convolution once the batch axis becomes the reduction (channel) axis:
 *   input  x^T  [Ci, H, W, N]    (conv batch = Ci, conv channels = N)
 *   filter dy^T [Ho, Wo, N, Co]  (a Ho x Wo "kernel")
 *   dilation = stride, stride 1, padding = the forward padding
 *   output      [Ci, KH, KW, Co] -> transpose -> [KH, KW, Ci, Co]
 * so the whole reduction runs in XNNPACK's conv (same FLOPs as the forward conv), and padding
 * stays virtual. The only copies are the two input transposes and the small output one.
 *
 * That conv reads only N contiguous channels per XNNPACK indirection pointer. Faster in
 * practice: the transposed im2col matrix of a chunk of whole images
 *   P [KH*KW*Ci, g*Ho*Wo] (row (kh, kw, c) = channel c of x shifted by the tap and subsampled,
 *                          columns in (image, oh, ow) order: dy's own row order)
 * and dW = sum over chunks of P dy_chunk, one GEMM each (issue 9: no transpose of dy, and the
 * reduction blocked so that dy's rows stay in cache; see dWOptions). P costs KH*KW/s^2 copies of
 * the chunk's x, so it is bounded (dWOptions).
 * Either way the GEMM's "weights" (dy) are new each call, so XNNPACK repacks them every call.
 * Those two routes now serve only what the faster ones leave: with Ci a multiple of 4 and Co of 8,
 * dW is Winograd's (3x3 stride 1, winograd.ts) or sums of outer products read in place
 * (direct-dw.ts), both on the assembled GEMMs; the 3-channel stem keeps the routes here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { directDwApplies, directFilterGradient } from './direct-dw.js';
import { winogradFilterGradient, winogradTile } from './winograd.js';
import {
  asWasm,
  conv2d,
  heapF32,
  matMul,
  offsetF32,
  release,
  reshape,
  sliceCopy,
  transpose,
  zeros,
  type WasmBackend,
} from './kernel-utils.js';

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

interface Geometry {
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
function dWByIm2colGemm(
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
function dWByIm2colGemmSingle(
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

export function conv2dBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend: WasmBackend = asWasm(args.backend);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW') {
    throw new Error('wasm Conv2DBackpropFilter supports NHWC only (as does the wasm Conv2D)');
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const [, ho, wo] = dy.shape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  if (n * ho * wo === 0 || n * h * w * ci === 0) return zeros(backend, attrs.filterShape);

  const tile = winogradTile('filter', [x.dtype, dy.dtype], attrs.filterShape, info);
  if (tile !== 0) {
    const dW = winogradFilterGradient(backend, x, dy, info, tile);
    if (dW !== null) return dW;
  }
  if (directDwApplies([x.dtype, dy.dtype], info)) {
    const dW = directFilterGradient(backend, x, dy, info);
    if (dW !== null) return dW;
  }
  const geometry = { kh, kw, sh, sw, top, left };
  // Chunked where the columns exceed a chunk and P's rows are shifted planes (stride 1, Wo = W);
  // a strided tap would be built element by element in JavaScript (measured slower: layer2's
  // 3x3 s2 dW 140 -> 184 ms), so strided convs keep the single GEMM.
  const chunked = n * ho * wo > dWOptions.chunkColumns && ho * wo >= dWOptions.chunkMinPixels;
  if (chunked && sh === 1 && sw === 1 && wo === w) {
    const images = imagesPerChunk(n, ho * wo, dWOptions.chunkColumns);
    if (kh * kw * ci * ho * wo * images <= dWOptions.gemmMaxElements) return dWByIm2colGemm(backend, x, dy, geometry, images);
  }
  if (kh * kw * ci * ho * wo * n <= dWOptions.gemmMaxElements) {
    return dWByIm2colGemmSingle(backend, x, dy, geometry);
  }

  // Rows the forward windows touch: (Ho-1)*s + KH counted from the padded top. Padding after
  // x is what remains; if negative (the last rows of x fall outside every window, e.g. 'valid'
  // with a remainder), crop them so that the dilated "kernel" yields exactly KH outputs.
  const bottom = (ho - 1) * sh + kh - h - top;
  const right = (wo - 1) * sw + kw - w - left;
  let xIn = x;
  if (bottom < 0 || right < 0) {
    xIn = sliceCopy(backend, x, [0, 0, 0, 0], [n, h + Math.min(0, bottom), w + Math.min(0, right), ci]);
  }
  const xT = transpose(backend, xIn, [3, 1, 2, 0]); // [Ci, H', W', N]
  if (xIn !== x) release(backend, xIn);
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
  let out: tf.TensorInfo;
  try {
    out = conv2d(
      backend,
      xT,
      dyT,
      [1, 1],
      { top, bottom: Math.max(0, bottom), left, right: Math.max(0, right) },
      [sh, sw],
    ); // [Ci, KH, KW, Co]
  } finally {
    release(backend, xT, dyT);
  }
  const dW = transpose(backend, out, [1, 2, 0, 3]); // [KH, KW, Ci, Co]
  release(backend, out);
  return dW;
}
