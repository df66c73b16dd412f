/**
 * The fused SGD momentum update and key-encoder average on wasm (wasm-kernels/parameter-updates.ts)
 * against the tfjs-op route on the same backend: bit-identical parameters and momentum buffers
 * after several steps (the first step creates the buffers through the ops, as before), sizes that
 * are not a multiple of 4 kept on the ops, the kernels really called, and nothing leaked.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../helpers/backend.js';
import { fusedKernelOptions, MOMENTUM_AVERAGE, SGD_MOMENTUM } from '../../../../main/ml/fused-kernels.js';
import { Moco } from '../../../../main/ml/moco.js';
import { SgdMomentum } from '../../../../main/ml/optimizer.js';
import { copies, countingCalls } from './compare.js';
import { values } from './lcg-values.js';

const SHAPES = [[3, 3, 4, 8], [16], [3, 3, 3, 3], [5, 7]]; // 81 and 35 values: not multiples of 4

/** Parameters and momentum buffers after `steps` SGD steps with fixed gradients. */
function sgdSteps(steps: number, weightDecay = 5e-4): Float32Array[] {
  const params = new Map(SHAPES.map((shape, k) => {
    const initial = tf.tensor(values(shape.reduce((a, b) => a * b, 1), k), shape);
    const variable = tf.variable(initial);
    initial.dispose(); // the variable keeps its own reference to the values
    return [`p${k}`, variable] as const;
  }));
  const sgd = new SgdMomentum({ learningRate: 0.1, momentum: 0.9, weightDecay, schedule: { kind: 'constant' }, warmupEpochs: 0 });
  for (let s = 0; s < steps; s++) {
    const grads = tf.tidy(() => Object.fromEntries([...params].map(([name, p], k) => [name, tf.tensor(values(p.size, 100 * s + k), p.shape)])));
    sgd.apply(params, grads, 0.1 / (s + 1));
    tf.dispose(Object.values(grads));
  }
  const out = copies([...params.values(), ...sgd.velocity.values()]);
  for (const p of params.values()) p.dispose();
  sgd.dispose();
  return out;
}

describe('fused parameter updates on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm'); // through the product's chooser, which registers our kernels
  });
  afterEach(() => {
    fusedKernelOptions.enabled = true;
  });

  for (const weightDecay of [5e-4, 0]) {
    it(`SGD with momentum, weight decay ${weightDecay}: bit-identical to the ops, fused where the size allows`, async () => {
      const { result: fused, calls } = await countingCalls(SGD_MOMENTUM, () => sgdSteps(3, weightDecay));
      expect(calls).toBe(2 * 2); // steps 2 and 3, the two parameters whose size is a multiple of 4
      fusedKernelOptions.enabled = false;
      const ops = sgdSteps(3, weightDecay);
      expect(fused.length).toBe(ops.length);
      fused.forEach((f, k) => { expect(Array.from(f)).toEqual(Array.from(ops[k]!)); });
    });
  }

  it("MoCo's key-encoder average: bit-identical to the ops", async () => {
    const encoder = { architecture: 'resnet18', widthMultiplier: 0.125, smallImageStem: true, head: 'linear', dim: 16, bnSplits: 2 } as const;
    const averaged = async (): Promise<{ result: Float32Array[]; calls: number }> => {
      const moco = new Moco({ encoder, queueSize: 32, keyMomentum: 0.9, temperature: 0.2, shuffleKeys: true }, 4, 0);
      // A query encoder different from the key encoder: scale every query parameter.
      for (const name of moco.keyEncoder.variables.parameters.keys()) {
        const q = moco.queryEncoder.variables.parameter(name);
        q.assign(tf.tidy(() => tf.add(tf.mul(q, 1.5), 0.01)));
      }
      const out = await countingCalls(MOMENTUM_AVERAGE, () => {
        moco.momentumUpdateKeyEncoder();
        return Promise.resolve(copies(moco.keyEncoder.variables.parameters.values()));
      });
      moco.dispose();
      return out;
    };
    const fused = await averaged();
    const moco = new Moco({ encoder, queueSize: 32, keyMomentum: 0.9, temperature: 0.2, shuffleKeys: true }, 4, 0);
    const eligible = [...moco.keyEncoder.variables.parameters.values()].filter((p) => p.size % 4 === 0).length;
    moco.dispose();
    expect(fused.calls).toBe(eligible); // one kernel a parameter whose size is a multiple of 4
    fusedKernelOptions.enabled = false;
    const ops = await averaged();
    expect(ops.calls).toBe(0);
    fused.result.forEach((f, k) => { expect(Array.from(f)).toEqual(Array.from(ops.result[k]!)); });
  });

  it('leaks no tensor and no backend buffer', () => {
    sgdSteps(2);
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = [tf.memory().numTensors, backend.numDataIds()];
    sgdSteps(3);
    expect([tf.memory().numTensors, backend.numDataIds()]).toEqual(before);
  });
});
