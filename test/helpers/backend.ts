import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { chooseBackend, type BackendName } from '../../main/ml/backend.js';

/** Initialises a backend for a spec file through the product's own chooser (so wasm gets our kernels). */
export async function useBackend(name: Exclude<BackendName, 'tensorflow'>): Promise<void> {
  await chooseBackend({ preferred: name });
  if (tf.getBackend() !== name) throw new Error(`expected backend ${name}, got ${tf.getBackend()}`);
}
