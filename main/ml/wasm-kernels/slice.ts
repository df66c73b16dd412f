/**
 * Slice and SplitV on wasm without reading the whole input out of the heap.
 *
 * The stock wasm Slice starts with `backend.readSync(x.dataId)`, a JS copy of all of x, and
 * then copies the slice again; SplitV calls it once per piece (so splitting in k copies x k
 * times). Concat's gradient is a SplitV, and tf.split/tf.slice are common in a MoCo step
 * (query/key halves). Here the box is copied heap-to-heap, one `copyWithin` per contiguous run.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasm, callStock, sliceCopy } from './kernel-utils.js';

export function sliceWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
  if (x.dtype === 'string') return callStock('Slice', backend, { x }, { begin, size }) as tf.TensorInfo;
  const [begin_, size_] = tf.slice_util.parseSliceParams(x, begin, size);
  return sliceCopy(backend, x, begin_!, size_!);
}

export function splitVWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
  if (x.dtype === 'string') {
    return callStock('SplitV', backend, { x }, { numOrSizeSplits, axis }) as tf.TensorInfo[];
  }
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
  const begin = x.shape.map(() => 0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[ax] = s;
    const piece = sliceCopy(backend, x, begin.slice(), size);
    begin[ax]! += s;
    return piece;
  });
}
