/**
 * The fused split BatchNorm kernels on wasm (wasm-kernels/batch-norm.ts) against the tfjs-op
 * route of ml/batch-norm.ts on the cpu backend: outputs, running statistics, and dx, dgamma,
 * dbeta, for NHWC activations in several groups and for an [N, C] head input, including a mean
 * far from zero (the centred forms must not cancel). Also: the fused route is really taken (it is
 * one kernel each way, and one for the running statistics), and nothing leaks.
 */
import '@tensorflow/tfjs'; // registers the gradients
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../helpers/backend.js';
import { splitBatchNormTrain, type BatchNormVariables } from '../../../../main/ml/batch-norm.js';
import { fusedKernelOptions, RUNNING_STATISTICS, SPLIT_BATCH_NORM } from '../../../../main/ml/fused-kernels.js';
import { copies, countingCalls, relativeError } from './compare.js';
import { values } from './lcg-values.js';

/** epilogue: the ReLU after the layer, or relu(bn(x) + residual) (the ResNet block's end). */
interface Case { shape: number[]; splits: number; offset: number; epilogue?: 'relu' | 'residual' }

const CASES: Case[] = [
  { shape: [8, 5, 3, 12], splits: 4, offset: 0 },
  { shape: [6, 4, 4, 8], splits: 3, offset: 40 }, // mean 40, spread about 1
  { shape: [16, 32], splits: 8, offset: 0 }, // the MLP head's [N, C]
  { shape: [4, 7, 7, 4], splits: 1, offset: -3 },
  { shape: [8, 5, 3, 12], splits: 4, offset: 0, epilogue: 'relu' },
  { shape: [6, 4, 4, 8], splits: 2, offset: 40, epilogue: 'residual' },
];

const label = (c: Case): string => `x [${c.shape.join(',')}], ${c.splits} groups, mean ${c.offset}${c.epilogue ? `, ${c.epilogue}` : ''}`;

/** y, running mean and variance after one update, and dx, dgamma, dbeta of sum(y * r). */
async function batchNormAndGradients(backend: 'cpu' | 'wasm', c: Case): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const channels = c.shape[c.shape.length - 1]!;
  const size = c.shape.reduce((a, b) => a * b, 1);
  // In a tidy: the initial values are disposed, the variables are not.
  const vars: BatchNormVariables = tf.tidy(() => ({
    gamma: tf.variable(tf.tensor1d(values(channels, 5).map((v) => 1 + v))),
    beta: tf.variable(tf.tensor1d(values(channels, 6))),
    runningMean: tf.variable(tf.zeros([channels]), false),
    runningVar: tf.variable(tf.ones([channels]), false),
  }));
  const options = { splits: c.splits, momentum: 0.1, epsilon: 1e-5 };
  const out = tf.tidy(() => {
    const x = tf.tensor(values(size, 7).map((v) => v + c.offset), c.shape);
    const r = tf.tensor(values(size, 8), c.shape);
    const shortcut = tf.tensor(values(size, 9), c.shape);
    const epilogue = (s: tf.Tensor) => (c.epilogue === 'residual' ? { relu: true, residual: s } : { relu: c.epilogue === 'relu' });
    const y = splitBatchNormTrain(x, vars, options, epilogue(shortcut));
    // dx, dgamma, dbeta of sum(y * r), and d(shortcut) with a residual.
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, s?: tf.Tensor) =>
      tf.sum(tf.mul(splitBatchNormTrain(a, { ...vars, gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D }, options, epilogue(s ?? shortcut)), r)))(
      [x, vars.gamma, vars.beta, ...(c.epilogue === 'residual' ? [shortcut] : [])]);
    return [y, tf.clone(vars.runningMean), tf.clone(vars.runningVar), ...grads];
  });
  const arrays = copies(out);
  tf.dispose([...out, vars.gamma, vars.beta, vars.runningMean, vars.runningVar]);
  return arrays;
}


describe('fused split BatchNorm on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm'); // through the product's chooser, which registers our kernels
  });
  afterEach(() => {
    fusedKernelOptions.enabled = true;
  });

  for (const c of CASES) {
    it(`matches the op route on cpu: ${label(c)}`, async () => {
      const reference = await batchNormAndGradients('cpu', c);
      const { result: { result: ours, calls: statisticsCalls }, calls } = await countingCalls(SPLIT_BATCH_NORM,
        () => countingCalls(RUNNING_STATISTICS, () => batchNormAndGradients('wasm', c)));
      expect(calls).toBe(2); // y, and y again inside tf.grads: one kernel each
      expect(statisticsCalls).toBe(2); // and one running-statistics update with each
      const names = ['y', 'running mean', 'running var', 'dx', 'dgamma', 'dbeta', 'd residual'].slice(0, reference.length);
      expect(ours).toHaveLength(reference.length);
      // A ReLU that zeroes nothing would not test its mask.
      if (c.epilogue) expect(ours[0]!.filter((v) => v === 0).length).toBeGreaterThan(ours[0]!.length / 10);
      // 1e-5 relative to the largest value; the op route on cpu sums in float32, ours in float64.
      names.forEach((label, k) => { expect(relativeError(ours[k]!, reference[k]!), label).toBeLessThan(1e-5); });
    });
  }

  for (const c of [CASES[0]!, CASES.find((k) => k.epilogue === 'residual')!]) {
    it(`falls back to the op route when switched off, with the same results: ${label(c)}`, async () => {
      fusedKernelOptions.enabled = true;
      const fused = await batchNormAndGradients('wasm', c);
      fusedKernelOptions.enabled = false;
      const { result: ops, calls } = await countingCalls(SPLIT_BATCH_NORM, () => batchNormAndGradients('wasm', c));
      expect(calls).toBe(0);
      expect(ops).toHaveLength(fused.length);
      fused.forEach((f, k) => { expect(relativeError(f, ops[k]!)).toBeLessThan(1e-5); });
    });
  }

  it('leaks no tensor and no backend buffer', async () => {
    await batchNormAndGradients('wasm', CASES[1]!);
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = [tf.memory().numTensors, backend.numDataIds()];
    for (const c of CASES) await batchNormAndGradients('wasm', c);
    expect([tf.memory().numTensors, backend.numDataIds()]).toEqual(before);
  });
});
