/**
 * Training kernels for the tfjs `wasm` backend: registers fast replacements (or, for
 * Conv2DBackpropFilter, the missing kernel) so that conv nets train on wasm at close to
 * forward-conv speed. Each kernel is built from the stock XNNPACK Conv2D plus cheap copies;
 * see the module of each kernel for its technique.
 *
 * Usage: `registerWasmTrainingKernels()` once, any time before or after `tf.setBackend('wasm')`.
 */
import * as tf from '@tensorflow/tfjs-core';
// The stock wasm kernels must be registered before ours replace them (and the stock Conv2D,
// Transpose, Reshape are called by ours), so load the backend package here, not at the caller's whim.
import '@tensorflow/tfjs-backend-wasm';
import { conv2dWasm } from './conv2d.js';
import { conv2dBackpropFilterWasm } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputWasm } from './conv2d-backprop-input.js';
import { identityWasm } from './identity.js';
import { runningStatisticsWasm, splitBatchNormGradWasm, splitBatchNormWasm } from './batch-norm.js';
import { MOMENTUM_AVERAGE, RUNNING_STATISTICS, SGD_MOMENTUM, SPLIT_BATCH_NORM, SPLIT_BATCH_NORM_GRAD } from '../fused-kernels.js';
import { momentumAverageWasm, sgdMomentumWasm } from './parameter-updates.js';
import { batchMatMulWasm } from './matmul.js';
import { sliceWasm, splitVWasm } from './slice.js';
import { rememberStock, stockKernel, wasmKernel } from './kernel-utils.js';

const KERNELS: readonly { name: string; kernelFunc: tf.KernelFunc }[] = [
  { name: 'Conv2D', kernelFunc: conv2dWasm },
  { name: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterWasm },
  { name: 'Conv2DBackpropInput', kernelFunc: conv2dBackpropInputWasm },
  { name: 'BatchMatMul', kernelFunc: batchMatMulWasm },
  { name: 'Identity', kernelFunc: identityWasm },
  { name: 'Slice', kernelFunc: sliceWasm },
  { name: 'SplitV', kernelFunc: splitVWasm },
  { name: SPLIT_BATCH_NORM, kernelFunc: splitBatchNormWasm },
  { name: SPLIT_BATCH_NORM_GRAD, kernelFunc: splitBatchNormGradWasm },
  { name: RUNNING_STATISTICS, kernelFunc: runningStatisticsWasm },
  { name: SGD_MOMENTUM, kernelFunc: sgdMomentumWasm },
  { name: MOMENTUM_AVERAGE, kernelFunc: momentumAverageWasm },
];

const OURS = new Set<tf.KernelFunc>(KERNELS.map((k) => k.kernelFunc));

/**
 * Registers the kernels on 'wasm', replacing existing registrations (unregister first: tfjs
 * warns on a duplicate). Idempotent: a second call re-registers the same functions and keeps
 * the stock kernels remembered by the first. Returns the kernel names registered.
 */
export function registerWasmTrainingKernels(): string[] {
  const names: string[] = [];
  for (const { name, kernelFunc } of KERNELS) {
    const existing = wasmKernel(name);
    if (existing !== undefined) {
      if (!OURS.has(existing.kernelFunc)) rememberStock(existing);
      tf.unregisterKernel(name, 'wasm');
    }
    const stock = stockKernel(name);
    // Keep the stock setupFunc: it binds the C++ entry point our fallbacks call, and it runs
    // only when the backend initialises, which may happen after this registration.
    const config: tf.KernelConfig = { kernelName: name, backendName: 'wasm', kernelFunc };
    if (stock?.setupFunc !== undefined) config.setupFunc = stock.setupFunc;
    if (stock?.disposeFunc !== undefined) config.disposeFunc = stock.disposeFunc;
    tf.registerKernel(config);
    names.push(name);
  }
  return names;
}

/** Puts the stock wasm kernels back (for benchmarks and tests comparing the two). */
export function unregisterWasmTrainingKernels(): string[] {
  const names: string[] = [];
  for (const { name } of KERNELS) {
    const current = wasmKernel(name);
    if (current === undefined || !OURS.has(current.kernelFunc)) continue;
    tf.unregisterKernel(name, 'wasm');
    const stock = stockKernel(name);
    if (stock !== undefined) tf.registerKernel(stock);
    names.push(name);
  }
  return names;
}
