import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { contrastiveLogits, infoNceLoss } from '../../../main/ml/contrastive-loss.js';
import { inversePermutation, Moco, type MocoConfig } from '../../../main/ml/moco.js';
import { SgdMomentum } from '../../../main/ml/optimizer.js';
import { Rng } from '../../../main/ml/rng.js';
import { useBackend } from '../../helpers/backend.js';

const tinyConfig = (over: Partial<MocoConfig> = {}, bnSplits = 2): MocoConfig => ({
  encoder: { architecture: 'resnet18', widthMultiplier: 1 / 16, smallImageStem: true, head: 'linear', dim: 8, bnSplits },
  queueSize: 8,
  keyMomentum: 0.9,
  temperature: 0.2,
  shuffleKeys: true,
  ...over,
});
const sgd = (): SgdMomentum => new SgdMomentum({ learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 });
const batch = (n: number, seed: number): tf.Tensor4D => tf.randomNormal([n, 8, 8, 3], 0, 1, 'float32', seed) as tf.Tensor4D;

describe('MoCo', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('computes InfoNCE exactly as worked out by hand', () => {
    // N=2, C=2, K=2, T=0.5
    const q = [[1, 0], [0.6, 0.8]];
    const k = [[0.8, 0.6], [0, 1]];
    const queue = [[1, 0], [0, 1]]; // [C, K]: columns (1,0) and (0,1)
    const T = 0.5;
    let expected = 0;
    for (let i = 0; i < 2; i++) {
      const pos = (q[i]![0]! * k[i]![0]! + q[i]![1]! * k[i]![1]!) / T;
      const negs = [0, 1].map((j) => (q[i]![0]! * queue[0]![j]! + q[i]![1]! * queue[1]![j]!) / T);
      const logSumExp = Math.log(Math.exp(pos) + Math.exp(negs[0]!) + Math.exp(negs[1]!));
      expected += (logSumExp - pos) / 2;
    }
    const logits = contrastiveLogits(tf.tensor2d(q), tf.tensor2d(k), tf.tensor2d(queue), T);
    expect(logits.shape).toEqual([2, 3]);
    const expectedLogits = [1.6, 2, 0, 1.6, 1.2, 1.6];
    logits.dataSync().forEach((v, i) => { expect(v).toBeCloseTo(expectedLogits[i]!, 5); });
    expect(infoNceLoss(logits).dataSync()[0]).toBeCloseTo(expected, 5);
  });

  // The closed-form gradient (softmax - onehot(0)) / N against autodiff of the same loss written
  // with tf.logSumExp (the previous implementation). Tolerance 1e-6 on gradients of size ~1/N.
  it('has the InfoNCE gradient of autodiff through logSumExp', () => {
    const logits = tf.randomNormal([6, 11], 0, 3, 'float32', 4);
    const reference = (l: tf.Tensor): tf.Scalar => tf.mean(tf.sub(tf.logSumExp(l, 1, true), tf.slice(l, [0, 0], [-1, 1])));
    const dy = tf.scalar(1.7); // an upstream factor, so the chain rule is exercised
    const [ours] = tf.grads((l: tf.Tensor) => tf.mul(infoNceLoss(l as tf.Tensor2D), dy))([logits]);
    const [ref] = tf.grads((l: tf.Tensor) => tf.mul(reference(l), dy))([logits]);
    expect(tf.max(tf.abs(tf.sub(ours!, ref!))).dataSync()[0]).toBeLessThan(1e-6);
    expect(infoNceLoss(logits as tf.Tensor2D).dataSync()[0]).toBeCloseTo(reference(logits).dataSync()[0]!, 6);
  });

  it('reads metrics as the tensor formulas define them (rank, top-k, mean logits, unbiased std)', async () => {
    const moco = new Moco(tinyConfig(), 4, 1);
    const T = moco.config.temperature;
    const logits = tf.tensor2d([
      [0.5, 0.9, 0.1, 0.2, 0.3, 0.4, 0.0, -1, 0.6], // 2 negatives above: rank 2
      [0.9, 0.1, 0.2, 0.3, 0.4, 0.0, -1, 0.6, 0.5], // rank 0
      [-2, 0.1, 0.2, 0.3, 0.4, 0.0, -1, 0.6, 0.5], // rank 7
      [0.3, 0.3, 0.3, 0.3, 0.4, 0.0, -1, 0.6, 0.5], // ties do not count: rank 3
    ]);
    const q = tf.randomNormal([4, 8], 0, 1, 'float32', 3) as tf.Tensor2D;
    const m = await moco['readMetrics'](tf.scalar(1.25), logits, q, 0.5, 0.01);
    const negatives = tf.slice(logits, [0, 1], [-1, -1]);
    expect(m.loss).toBe(1.25);
    expect(m.top1).toBe(0.25);
    expect(m.top5).toBe(0.75);
    expect(m.positiveLogit).toBeCloseTo(((0.5 + 0.9 - 2 + 0.3) / 4) * T, 6);
    expect(m.negativeLogit).toBeCloseTo(tf.mean(negatives).dataSync()[0]! * T, 6);
    const torchStd = tf.mean(tf.sqrt(tf.mul(tf.moments(q, 0).variance, 4 / 3))).dataSync()[0]!;
    expect(m.embeddingStd).toBeCloseTo(torchStd, 5);
    expect(m.queueFill).toBe(0.5);
    expect(m.learningRate).toBe(0.01);
    moco.dispose();
  });

  it('refuses a queue size that is not a multiple of the batch, with a suggestion', () => {
    expect(() => new Moco(tinyConfig({ queueSize: 10 }), 4, 1)).toThrow(/multiple of the batch size.*K=10, batch=4.*K=12/);
    expect(() => new Moco(tinyConfig({ temperature: 0 }), 4, 1)).toThrow(/temperature \(T\)/);
    expect(() => new Moco(tinyConfig({ keyMomentum: 1 }), 4, 1)).toThrow(/keyMomentum \(m\)/);
  });

  it('initialises the key encoder as a copy of the query encoder and a normalised random queue', () => {
    const moco = new Moco(tinyConfig(), 4, 1);
    for (const [name, q] of moco.queryEncoder.variables.parameters) {
      expect(Array.from(moco.keyEncoder.variables.parameter(name).dataSync())).toEqual(Array.from(q.dataSync()));
      expect(moco.keyEncoder.variables.parameter(name).trainable).toBe(false);
    }
    const norms = tf.norm(moco.queue, 'euclidean', 0).dataSync();
    norms.forEach((n) => { expect(n).toBeCloseTo(1, 5); });
    moco.dispose();
  });

  it('applies theta_k <- m theta_k + (1 - m) theta_q to every parameter', () => {
    const moco = new Moco(tinyConfig({ keyMomentum: 0.75 }), 4, 1);
    const name = 'layer2.0.conv1';
    const thetaQ = moco.queryEncoder.variables.parameter(name);
    const k0 = Array.from(moco.keyEncoder.variables.parameter(name).dataSync());
    thetaQ.assign(tf.add(thetaQ, 1));
    const q1 = Array.from(thetaQ.dataSync());
    moco.momentumUpdateKeyEncoder();
    const k1 = Array.from(moco.keyEncoder.variables.parameter(name).dataSync());
    k1.forEach((v, i) => { expect(v).toBeCloseTo(0.75 * k0[i]! + 0.25 * q1[i]!, 5); });
    moco.dispose();
  });

  it('enqueues keys FIFO and wraps the pointer around K', () => {
    const moco = new Moco(tinyConfig({ queueSize: 8 }), 4, 1);
    const keysFor = (v: number): tf.Tensor2D => tf.fill([4, 8], v) as tf.Tensor2D;
    const column = (j: number): number => (moco.queue as tf.Tensor2D).arraySync()[0]![j]!;
    moco.dequeueAndEnqueue(keysFor(1));
    expect(moco.getState().queuePointer).toBe(4);
    moco.dequeueAndEnqueue(keysFor(2));
    expect(moco.getState().queuePointer).toBe(0);
    moco.dequeueAndEnqueue(keysFor(3)); // overwrites the oldest (columns 0..3)
    expect(moco.getState().queuePointer).toBe(4);
    expect([0, 3, 4, 7].map(column)).toEqual([3, 3, 2, 2]);
    expect(moco.getState().keysEnqueued).toBe(8);
    moco.dispose();
  });

  it('has an inverse permutation that undoes the shuffle', () => {
    const perm = new Rng(3).permutation(17);
    const inv = inversePermutation(perm);
    const data = Array.from({ length: 17 }, (_, i) => i * 10);
    const shuffled = Array.from(perm, (p) => data[p]!);
    expect(Array.from(inv, (i) => shuffled[i]!)).toEqual(data);
  });

  it('shuffle BN: keys line up with their images again after un-shuffling', () => {
    // With a single BN group the shuffle cannot change statistics, so shuffled and plain keys must agree row by row.
    const shuffled = new Moco(tinyConfig({ shuffleKeys: true }, 1), 4, 1);
    const plain = new Moco(tinyConfig({ shuffleKeys: false }, 1), 4, 1);
    const x = batch(4, 11);
    const a = shuffled.encodeKeys(x);
    const b = plain.encodeKeys(x);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-4);
    // With 2 groups the shuffle changes which images share statistics: keys differ.
    const shuffled2 = new Moco(tinyConfig({ shuffleKeys: true }, 2), 4, 1);
    const plain2 = new Moco(tinyConfig({ shuffleKeys: false }, 2), 4, 1);
    let differs = false;
    for (let i = 0; i < 5 && !differs; i++) {
      differs = tf.max(tf.abs(tf.sub(shuffled2.encodeKeys(x), plain2.encodeKeys(x)))).dataSync()[0]! > 1e-3;
    }
    expect(differs).toBe(true);
    [shuffled, plain, shuffled2, plain2].forEach((m) => { m.dispose(); });
  });

  it('trains f_q by SGD while f_k only follows by momentum (stop-gradient on keys)', async () => {
    const moco = new Moco(tinyConfig({ keyMomentum: 0.9 }), 4, 1);
    const opt = sgd();
    const name = 'layer1.0.conv2';
    const q0 = Array.from(moco.queryEncoder.variables.parameter(name).dataSync());
    const k0 = Array.from(moco.keyEncoder.variables.parameter(name).dataSync());
    const metrics = await moco.trainStep(batch(4, 1), batch(4, 2), opt, 0.05);
    const q1 = Array.from(moco.queryEncoder.variables.parameter(name).dataSync());
    const k1 = Array.from(moco.keyEncoder.variables.parameter(name).dataSync());
    expect(q1).not.toEqual(q0);
    // the key encoder moved by momentum toward the pre-step query weights, and by nothing else
    k1.forEach((v, i) => { expect(v).toBeCloseTo(0.9 * k0[i]! + 0.1 * q0[i]!, 6); });
    expect(metrics.loss).toBeGreaterThan(0);
    expect(metrics.queueFill).toBe(0);
    expect(moco.getState().keysEnqueued).toBe(4);
    expect(metrics.top1).toBeGreaterThanOrEqual(0);
    expect(metrics.top1).toBeLessThanOrEqual(metrics.top5);
    expect(metrics.embeddingStd).toBeGreaterThan(0);
    opt.dispose();
    moco.dispose();
  });

  it('leaves the tensor count unchanged between the first and the Nth training step', async () => {
    const moco = new Moco(tinyConfig(), 4, 1);
    const opt = sgd();
    const xq = batch(4, 1);
    const xk = batch(4, 2);
    await moco.trainStep(xq, xk, opt, 0.05);
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await moco.trainStep(xq, xk, opt, 0.05);
    expect(tf.memory().numTensors).toBe(after1);
    opt.dispose();
    moco.dispose();
  });
});

describe('MoCo on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  // The loss and its closed-form gradient on wasm against the cpu backend (tolerance 1e-5): a
  // wasm kernel that differs from cpu (e.g. OneHot ignoring its dtype) must not pass.
  it('has the InfoNCE loss and gradient of the cpu backend', async () => {
    const values = Array.from(tf.tidy(() => tf.randomNormal([5, 9], 0, 3, 'float32', 6).dataSync()));
    const run = (): Float32Array[] => {
      const logits = tf.tensor2d(values, [5, 9]);
      const [g] = tf.grads((l: tf.Tensor) => infoNceLoss(l as tf.Tensor2D))([logits]);
      return [infoNceLoss(logits).dataSync() as Float32Array, g!.dataSync() as Float32Array];
    };
    const onWasm = run();
    await useBackend('cpu');
    const onCpu = run();
    await useBackend('wasm');
    onWasm.forEach((a, i) => {
      a.forEach((v, j) => { expect(Math.abs(v - onCpu[i]![j]!)).toBeLessThan(1e-5); });
    });
  });
});
