/** Helpers the wasm-kernel specs share: copies of tensors' values, a relative error, and a count of a kernel's calls. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** The float32 values of each tensor, copied out (the tensors may be disposed after). */
export function copies(tensors: Iterable<tf.Tensor>): Float32Array[] {
  return [...tensors].map((t) => Float32Array.from(t.dataSync() as Float32Array));
}

/** max |a - b| over max |b|: the error relative to the largest reference value. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** Runs `body` with the wasm kernel `kernel` wrapped in a counter; the registration is restored after. */
export async function countingCalls<T>(kernel: string, body: () => Promise<T> | T): Promise<{ result: T; calls: number }> {
  const config = tf.getKernel(kernel, 'wasm');
  let calls = 0;
  tf.unregisterKernel(kernel, 'wasm');
  tf.registerKernel({ ...config, kernelFunc: (args) => { calls++; return config.kernelFunc(args); } });
  try {
    return { result: await body(), calls };
  } finally {
    tf.unregisterKernel(kernel, 'wasm');
    tf.registerKernel(config);
  }
}
