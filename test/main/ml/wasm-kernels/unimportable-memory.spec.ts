/**
 * Where the wasm backend's memory cannot be imported (a threaded build's shared memory, or a
 * build without Emscripten's `asm.memory`), every assembled route returns to its XNNPACK or op
 * route: a training step still runs, gives what the fused and assembled routes give (within
 * Winograd's tolerance), and the fused kernels switch themselves off. The memory is hidden from
 * the kernels here by replacing `backend.wasm.asm` with a copy without `memory`.
 */
import '@tensorflow/tfjs'; // registers the gradients
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../helpers/backend.js';
import { fusedKernelOptions } from '../../../../main/ml/fused-kernels.js';
import { Moco } from '../../../../main/ml/moco.js';
import { SgdMomentum } from '../../../../main/ml/optimizer.js';
import { gemmRuns } from '../../../../main/ml/wasm-kernels/gemm-module.js';
import { backendMemory, type WasmBackend } from '../../../../main/ml/wasm-kernels/kernel-utils.js';
import { copies, relativeError } from './compare.js';

/** Query-encoder weights and momentum buffers after two MoCo steps (width 1/8: Winograd, direct dW, fused kernels all used). */
async function twoSteps(): Promise<Float32Array[]> {
  const encoder = { architecture: 'resnet18', widthMultiplier: 0.125, smallImageStem: true, head: 'linear', dim: 16, bnSplits: 2 } as const;
  const moco = new Moco({ encoder, queueSize: 64, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true }, 16, 0);
  const sgd = new SgdMomentum({ learningRate: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 });
  const xq = tf.randomUniform<tf.Rank.R4>([16, 16, 16, 3], 0, 1, 'float32', 1);
  const xk = tf.randomUniform<tf.Rank.R4>([16, 16, 16, 3], 0, 1, 'float32', 2);
  for (let s = 0; s < 2; s++) await moco.trainStep(xq, xk, sgd, 0.03);
  const out = copies([...moco.queryEncoder.variables.parameters.values(), ...sgd.velocity.values()]);
  tf.dispose([xq, xk]);
  moco.dispose();
  sgd.dispose();
  return out;
}

describe('wasm kernels where the backend memory cannot be imported', () => {
  beforeAll(async () => {
    await useBackend('wasm'); // through the product's chooser, which registers our kernels
  });
  afterEach(() => {
    fusedKernelOptions.enabled = true;
  });

  it('fall back to the XNNPACK and op routes, and the fused kernels switch off', async () => {
    const withMemory = await twoSteps();
    const backend = tf.backend() as unknown as WasmBackend & { wasm: { asm: Record<string, unknown> } };
    const saved = backend.wasm.asm;
    backend.wasm.asm = { ...saved, memory: undefined };
    const runs = { ...gemmRuns };
    let without: Float32Array[];
    try {
      expect(backendMemory(backend)).toBeUndefined();
      without = await twoSteps();
    } finally {
      backend.wasm.asm = saved;
    }
    expect(gemmRuns).toEqual(runs); // no assembled GEMM ran
    expect(fusedKernelOptions.enabled).toBe(false);
    expect(without.length).toBe(withMemory.length);
    // Two steps amplify rounding differences (docs/moco.md, Trajectory): weights within 1e-3 relative.
    without.forEach((w, k) => { expect(relativeError(w, withMemory[k]!)).toBeLessThan(1e-3); });
  });
});
