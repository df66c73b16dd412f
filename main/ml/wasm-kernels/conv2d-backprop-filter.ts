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
 * practice: build the transposed im2col matrix
 *   P [KH*KW*Ci, Ho*Wo*N] (row (kh, kw, c) = x^T[c] shifted by the tap and subsampled)
 * and run dW = P dy^T as one GEMM (a 1x1 conv with contiguous K). P costs KH*KW/s^2 copies
 * of x in memory, so it is bounded (dWOptions).
 * Either way the "filter" is dy^T, a new tensor each call, so XNNPACK repacks it every call
 * (tfjs's C++ first transposes it, ~15 ns per element): that fixed cost is why dW of thin
 * layers (3-channel stem, 1x1 shortcuts) stays several times slower than their forward.
 */
import * as tf from '@tensorflow/tfjs-core';
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
 * Tuning knobs (exported for A/B runs). The im2col GEMM measured faster than the dilated conv
 * on every ResNet-18 shape at batch 32 (e.g. 3x3 64->64 @32: 161 vs 183 ms; 256->256 @8:
 * 81 vs 104 ms), so it is used whenever P fits `gemmMaxElements` floats (128 MB; ResNet-18
 * layer1 at batch 32 needs 19M); beyond that the conv route avoids the KH*KW-fold copy of x.
 */
export const dWOptions = { gemmMaxElements: 32 * 2 ** 20 };

interface Geometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** dW = P dy^T with P the transposed im2col of x (see the file comment). */
function dWByIm2colGemm(
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

  if (kh * kw * ci * ho * wo * n <= dWOptions.gemmMaxElements) {
    return dWByIm2colGemm(backend, x, dy, { kh, kw, sh, sw, top, left });
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
