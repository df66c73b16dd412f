/**
 * Identity on wasm without a copy.
 *
 * The stock wasm Identity allocates and copies. Autodiff saves every tensor a gradient needs
 * through identity (tape `saved` tensors), so each activation of a training step existed
 * twice. tfjs buffers are immutable once written, so the output can share the input's buffer
 * the way the stock wasm Reshape already does (and the cpu backend's Identity): bump the
 * refCount of the dataId in `backend.dataIdMap`; `disposeData` frees the heap block only when
 * the count reaches 0, so the two tensors can be disposed in either order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asWasm, callStock } from './kernel-utils.js';

export function identityWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { x } = args.inputs as { x: tf.TensorInfo };
  // String tensors keep their bytes in JS (`stringBytes`), not on the heap: leave them to stock.
  if (x.dtype === 'string' || !backend.dataIdMap.has(x.dataId)) {
    return callStock('Identity', backend, { x }) as tf.TensorInfo;
  }
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}
