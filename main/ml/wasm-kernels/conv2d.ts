/**
 * Conv2D on wasm with the output channels of wide layers in blocks (issue 9).
 *
 * The stock kernel runs XNNPACK's convolution, which does not block its reduction: each tile of
 * output pixels streams the whole packed filter, 9.4 MB for ResNet-18's 3x3 512->512 (KH*KW*Ci
 * = 4608 per output channel), far beyond the 512 KB L2. At 4x4 pixels that layer ran at half
 * the GFLOP/s of the 64-channel layers (224 vs 166 ms CPU for the same FLOPs; PyTorch: 42 vs
 * 67). Splitting the output channels into blocks of `conv2dOptions.blockChannels` makes each
 * call's filter a quarter of that; every output value is the same dot product in the same order,
 * so the result is bit-identical to the stock kernel (`npm run bench:kernels`, conv2dBlocks,
 * times both interleaved with fresh filters, as in training).
 * The blocks' outputs [N, Ho, Wo, B] are interleaved into [N, Ho, Wo, Co] with heap copies.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasm, callStock, heapF32, offsetF32, release, sliceCopy } from './kernel-utils.js';
import { winogradConv2d, winogradTile } from './winograd.js';

/**
 * Blocking applies where a filter has at least `minReduction` (KH*KW*Ci) weights per output
 * channel and at least two blocks of output channels: ResNet-18's 3x3 512-channel convs (and
 * their dx, a 3x3 512->512 conv too). Measured interleaved (CPU ms, stock -> blocks of 128, load
 * ~18): 3x3 512->512 @4 252 -> 192; but 3x3 256->256 @8 (2304 per channel) 154 -> 172 and
 * 256->512 s2 @8 104 -> 100, so those stay whole.
 */
export const conv2dOptions = { blockChannels: 128, minReduction: 4608 };

export function conv2dWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides as number | [number, number], (attrs.dilations ?? 1) as number | [number, number],
    attrs.pad as 'same' | 'valid' | number, attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined, false,
    tf.backend_util.convertConv2DDataFormat((attrs.dataFormat ?? 'NHWC') as 'NHWC' | 'NCHW'),
  );
  const tile = winogradTile('forward', [x.dtype, filter.dtype], filter.shape, info);
  if (tile !== 0) {
    const y = winogradConv2d(backend, x, filter, info, tile);
    if (y !== null) return y;
  }
  const block = conv2dOptions.blockChannels;
  if (x.dtype !== 'float32' || kh * kw * ci < conv2dOptions.minReduction || co < 2 * block || co % block !== 0) {
    return callStock('Conv2D', backend, { x, filter }, attrs) as tf.TensorInfo;
  }
  let out: tf.TensorInfo | undefined;
  try {
    for (let o0 = 0; o0 < co; o0 += block) {
      const part = sliceCopy(backend, filter, [0, 0, 0, o0], [kh, kw, ci, block]);
      let y: tf.TensorInfo;
      try {
        y = callStock('Conv2D', backend, { x, filter: part }, attrs) as tf.TensorInfo; // [N, Ho, Wo, block]
      } finally {
        release(backend, part);
      }
      const pixels = tf.util.sizeFromShape(y.shape) / block;
      out ??= backend.makeOutput([...y.shape.slice(0, 3), co], 'float32');
      const heap = heapF32(backend);
      const src = offsetF32(backend, y);
      const dst = offsetF32(backend, out) + o0;
      for (let p = 0; p < pixels; p++) heap.copyWithin(dst + p * co, src + p * block, src + (p + 1) * block);
      release(backend, y);
    }
  } catch (e) {
    release(backend, out);
    throw e;
  }
  return out!;
}
