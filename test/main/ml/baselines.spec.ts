import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../../../main/ml/augment.js';
import { embedImages } from '../../../main/ml/batches.js';
import { applyStandardisation, fitStandardisation } from '../../../main/ml/feature-standardisation.js';
import { pixelFeatures, pixelStatistics } from '../../../main/ml/pixel-baseline.js';
import { Encoder } from '../../../main/ml/resnet.js';
import { useBackend } from '../../helpers/backend.js';

function solid(r: number, g: number, b: number, size = 12): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set([r, g, b], i * 3);
  return { width: size, height: size, data };
}

describe('raw-pixel baseline and multi-stage embeddings (issue 10)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('standardises pixels with the bank statistics and L2-normalises each row', () => {
    const bank = [solid(200, 10, 10), solid(10, 200, 10), solid(10, 10, 200), solid(200, 10, 12)];
    const statistics = pixelStatistics(bank, 8);
    const features = pixelFeatures(bank, 8, statistics);
    expect(features.shape).toEqual([4, 8 * 8 * 3]);
    const norms = tf.tidy(() => tf.norm(features, 'euclidean', 1).arraySync() as number[]);
    for (const n of norms) expect(n).toBeCloseTo(1, 4);
    // the two reds are alike, red and green are not: the cosine a kNN sees
    const sim = tf.tidy(() => tf.matMul(features, features, false, true).arraySync() as number[][]);
    expect(sim[0]![3]!).toBeGreaterThan(0.9);
    expect(sim[0]![1]!).toBeLessThan(0);
    features.dispose();
    statistics.mean.dispose();
    statistics.std.dispose();
  });

  it('concatenates the four stages, each weighing the same, with unit norm', () => {
    const encoder = Encoder.create({ architecture: 'resnet18', widthMultiplier: 0.125, smallImageStem: true, head: 'linear', dim: 16, bnSplits: 1 }, 3);
    const images = [solid(200, 10, 10), solid(10, 200, 10)];
    const before = tf.memory().numTensors;
    const stages = tf.tidy(() => encoder.stageFeatures(tf.zeros([2, 16, 16, 3]), 'eval').map((s) => s.shape[1]));
    expect(stages).toEqual([8, 16, 32, 64]);
    const multi = embedImages(encoder, images, 16, 'multistage');
    expect(multi.shape).toEqual([2, 8 + 16 + 32 + 64]);
    const rows = multi.arraySync();
    for (const row of rows) {
      expect(Math.hypot(...row)).toBeCloseTo(1, 4);
      // the last stage's slice is a quarter of the squared norm
      expect(Math.hypot(...row.slice(56))).toBeCloseTo(0.5, 4);
    }
    multi.dispose();
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });

  it('leaves no tensor behind', () => {
    const bank = Array.from({ length: 300 }, (_, i) => solid(i % 256, (3 * i) % 256, 40));
    const before = tf.memory().numTensors;
    const statistics = pixelStatistics(bank, 8);
    pixelFeatures(bank, 8, statistics).dispose(); // 300 rows: more than one chunk
    statistics.mean.dispose();
    statistics.std.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('standardises features so a shared offset no longer decides the cosine, without leaking tensors', async () => {
    // Two classes that differ in a small coordinate on top of a large common one (pooled ReLU features)
    const raw = tf.tensor2d([[10, 1, 0], [10, 1.1, 0.05], [10, 0, 1], [10, 0.05, 1.1]]);
    const before = tf.memory().numTensors;
    const fitted = await fitStandardisation(raw);
    expect(fitted.mean[0]).toBeCloseTo(10, 5);
    const z = applyStandardisation(raw, fitted);
    const sim = tf.tidy(() => tf.matMul(z, z, false, true).arraySync() as number[][]);
    expect(sim[0]![1]!).toBeGreaterThan(0.9);
    expect(sim[0]![2]!).toBeLessThan(-0.5);
    // raw cosines are all near 1: the reason for standardising
    const rawSim = tf.tidy(() => tf.matMul(tf.div(raw, tf.norm(raw, 'euclidean', 1, true)), tf.div(raw, tf.norm(raw, 'euclidean', 1, true)), false, true).arraySync() as number[][]);
    expect(rawSim[0]![2]!).toBeGreaterThan(0.98);
    z.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // identical rows (a folder of copies) still come out unit-length
    const same = tf.tensor2d([[1, 2, 3], [1, 2, 3]]);
    const sameZ = applyStandardisation(same, await fitStandardisation(same));
    for (const row of sameZ.arraySync()) expect(Math.hypot(...row)).toBeCloseTo(1, 4);
    same.dispose();
    sameZ.dispose();
    expect(() => applyStandardisation(raw, { mean: [0], std: [1] })).toThrow(/statistics for 1 dimensions, features have 3/);
    raw.dispose();
  });
});
