import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { learningRateAt, scaledLearningRate, SgdMomentum, type SgdConfig } from '../../../main/ml/optimizer.js';
import { useBackend } from '../../helpers/backend.js';

const base: SgdConfig = { learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, schedule: { kind: 'constant' }, warmupEpochs: 0 };

describe('SGD with momentum and weight decay', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('follows PyTorch semantics: v = mu v + (g + wd theta); theta -= lr v', () => {
    const theta = tf.variable(tf.tensor1d([1, -2]));
    const sgd = new SgdMomentum(base);
    const params = new Map([['w', theta]]);
    sgd.apply(params, { w: tf.tensor1d([0.5, 0.5]) }, 0.1);
    // v1 = g + wd*theta = [0.51, 0.48]; theta1 = [1 - 0.051, -2 - 0.048]
    const t1 = [1 - 0.1 * 0.51, -2 - 0.1 * 0.48];
    expect(Array.from(theta.dataSync())).toEqual([expect.closeTo(t1[0]!, 6), expect.closeTo(t1[1]!, 6)]);
    sgd.apply(params, { w: tf.tensor1d([0, 0]) }, 0.1);
    const v2 = [0.9 * 0.51 + 0.01 * t1[0]!, 0.9 * 0.48 + 0.01 * t1[1]!];
    expect(theta.dataSync()[0]).toBeCloseTo(t1[0]! - 0.1 * v2[0]!, 6);
    expect(theta.dataSync()[1]).toBeCloseTo(t1[1]! - 0.1 * v2[1]!, 6);
    sgd.dispose();
  });

  it('scales the learning rate linearly with the batch (0.03 per 256)', () => {
    expect(scaledLearningRate(256)).toBeCloseTo(0.03);
    expect(scaledLearningRate(128)).toBeCloseTo(0.015);
  });

  it('implements cosine, step and warm-up schedules', () => {
    const cosine: SgdConfig = { ...base, schedule: { kind: 'cosine' } };
    expect(learningRateAt(cosine, 10, 0, 0, 5)).toBeCloseTo(0.1);
    expect(learningRateAt(cosine, 10, 5, 0, 5)).toBeCloseTo(0.05);
    const step: SgdConfig = { ...base, schedule: { kind: 'step', milestones: [120, 160], gamma: 0.1 } };
    expect(learningRateAt(step, 200, 119, 0, 5)).toBeCloseTo(0.1);
    expect(learningRateAt(step, 200, 120, 0, 5)).toBeCloseTo(0.01);
    expect(learningRateAt(step, 200, 199, 0, 5)).toBeCloseTo(0.001);
    const warm: SgdConfig = { ...base, warmupEpochs: 2 };
    expect(learningRateAt(warm, 10, 0, 0, 10)).toBeCloseTo(0.1 * (0.1 / 2));
    expect(learningRateAt(warm, 10, 1, 9, 10)).toBeCloseTo(0.1);
    expect(learningRateAt(warm, 10, 3, 0, 10)).toBeCloseTo(0.1);
  });

  it('rejects invalid settings naming the field', () => {
    expect(() => new SgdMomentum({ ...base, momentum: 1.5 })).toThrow(/sgdMomentum/);
    expect(() => new SgdMomentum({ ...base, learningRate: -1 })).toThrow(/learningRate/);
  });

  it('leaves no tensors behind after the first step', () => {
    const theta = tf.variable(tf.ones([3]));
    const sgd = new SgdMomentum(base);
    const g = tf.ones([3]);
    sgd.apply(new Map([['w', theta]]), { w: g }, 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) sgd.apply(new Map([['w', theta]]), { w: g }, 0.1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
