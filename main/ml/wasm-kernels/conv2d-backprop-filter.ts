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
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasm, conv2d, release, sliceCopy, transpose, zeros, type WasmBackend } from './kernel-utils.js';

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
