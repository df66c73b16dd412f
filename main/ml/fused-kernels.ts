/**
 * Kernels that fuse a whole training-step pass into one call, registered on 'wasm' by
 * wasm-kernels/index.ts (issue 9): split BatchNorm forward and backward and its running statistics, the SGD momentum
 * update and MoCo's key-encoder average. Where the current backend has them, batch-norm.ts,
 * optimizer.ts and moco.ts call them; elsewhere (cpu, webgpu, tfjs-node) they keep their tfjs
 * ops, which compute the same values (up to float rounding; one exception: the fused ReLU
 * backward masks dy, so a NaN or infinite dy where y <= 0 gives 0 there, as PyTorch's
 * threshold_backward does, where dy * step(x) gives NaN). `fusedKernelOptions.enabled = false` keeps the ops
 * everywhere (benchmarks, tests).
 */
import * as tf from '@tensorflow/tfjs-core';

export const SPLIT_BATCH_NORM = 'MocoSplitBatchNorm';
export const SPLIT_BATCH_NORM_GRAD = 'MocoSplitBatchNormGrad';
export const RUNNING_STATISTICS = 'MocoRunningStatistics';
export const SGD_MOMENTUM = 'MocoSgdMomentum';
export const MOMENTUM_AVERAGE = 'MocoMomentumAverage';

export const fusedKernelOptions = { enabled: true };

/** Whether the current backend has these kernels (and they are not switched off). */
export function fusedKernels(...names: string[]): boolean {
  if (!fusedKernelOptions.enabled) return false;
  const backend = tf.getBackend();
  // tf.getKernel's declared type hides that it returns undefined for a name not registered.
  return names.every((name) => (tf.getKernel(name, backend) as tf.KernelConfig | undefined) !== undefined);
}

/** What a fused kernel throws where the backend's memory cannot be imported (a threaded wasm build). */
export class FusedKernelUnavailable extends Error {
  constructor(kernel: string) {
    super(`${kernel}: this wasm backend's memory cannot be imported by the fused kernels; the tfjs ops run instead`);
    this.name = 'FusedKernelUnavailable';
  }
}

/**
 * Runs `fused`; where it throws FusedKernelUnavailable, switches the fused kernels off for good
 * and returns undefined, so that the caller runs its ops instead.
 */
export function tryFused<T>(fused: () => T): T | undefined {
  try {
    return fused();
  } catch (e) {
    if (!(e instanceof FusedKernelUnavailable)) throw e;
    fusedKernelOptions.enabled = false;
    return undefined;
  }
}
