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
 * (direct-dw.ts), both on the assembled GEMMs; the 3-channel stem keeps the im2col routes
 * (dw-im2col.ts) and the dilated conv (here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { directDwApplies, directFilterGradient } from './direct-dw.js';
import { dWByIm2colGemm, dWByIm2colGemmSingle, dWOptions, imagesPerChunk } from './dw-im2col.js';
import { asWasm, conv2d, release, sliceCopy, transpose, zeros, type WasmBackend } from './kernel-utils.js';
import { winogradFilterGradient, winogradTile } from './winograd.js';

export { dWOptions, imagesPerChunk } from './dw-im2col.js';

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
