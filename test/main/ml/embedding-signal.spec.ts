import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { nearestNeighbours, neighbourAgreement, uniformity } from '../../../main/ml/embedding-signal.js';
import { l2Normalize } from '../../../main/ml/contrastive-loss.js';
import { useBackend } from '../../helpers/backend.js';

describe('label-free embedding signal (issue 10 Deliver 3)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('uniformity is 0 for a collapsed embedding and -t|x-y|^2 = -8 for two antipodal points (Wang & Isola, t = 2)', async () => {
    const collapsed = l2Normalize(tf.tensor2d([[1, 1], [1, 1], [1, 1]]));
    const antipodal = l2Normalize(tf.tensor2d([[1, 0], [-1, 0]]));
    expect(await uniformity(collapsed)).toBeCloseTo(0, 5);
    expect(await uniformity(antipodal)).toBeCloseTo(-8, 3);
    collapsed.dispose();
    antipodal.dispose();
  });

  it('ranks a spread embedding below (better than) a clustered one', async () => {
    const spread = l2Normalize(tf.tensor2d(Array.from({ length: 12 }, (_, i) => [Math.cos((2 * Math.PI * i) / 12), Math.sin((2 * Math.PI * i) / 12)])));
    const clustered = l2Normalize(tf.tensor2d(Array.from({ length: 12 }, (_, i) => [1, 0.05 * i])));
    expect(await uniformity(spread)).toBeLessThan(await uniformity(clustered));
    spread.dispose();
    clustered.dispose();
  });

  it('finds each row\'s nearest other rows, never itself', async () => {
    // Points on a line of angles: row i's two nearest are i-1 and i+1 (ends: the two on one side).
    const rows = l2Normalize(tf.tensor2d(Array.from({ length: 6 }, (_, i) => [Math.cos(0.2 * i), Math.sin(0.2 * i)])));
    const neighbours = await nearestNeighbours(rows, 2);
    expect(neighbours.length).toBe(12);
    expect(new Set(neighbours.subarray(4, 6))).toEqual(new Set([1, 3]));
    for (let r = 0; r < 6; r++) expect([...neighbours.subarray(2 * r, 2 * r + 2)]).not.toContain(r);
    rows.dispose();
  });

  it('measures neighbour agreement as the share of kept neighbours', () => {
    const before = Int32Array.from([1, 2, 0, 2, 0, 1]);
    expect(neighbourAgreement(before, before, 2)).toBe(1);
    expect(neighbourAgreement(before, Int32Array.from([1, 3, 4, 5, 0, 1]), 2)).toBeCloseTo(3 / 6);
    expect(() => neighbourAgreement(before, Int32Array.from([1]), 2)).toThrow(/neighbourAgreement/);
  });

  it('does not leak tensors', async () => {
    const rows = l2Normalize(tf.randomNormal([20, 8], 0, 1, 'float32', 3) as tf.Tensor2D);
    await uniformity(rows);
    await nearestNeighbours(rows, 3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await uniformity(rows);
      await nearestNeighbours(rows, 3);
    }
    expect(tf.memory().numTensors).toBe(before);
    rows.dispose();
  });
});
