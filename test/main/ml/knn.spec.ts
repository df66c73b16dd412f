import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { weightedKnn } from '../../../main/ml/knn.js';
import { l2Normalize } from '../../../main/ml/contrastive-loss.js';
import { useBackend } from '../../helpers/backend.js';

describe('weighted kNN monitor', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('weights votes by exp(sim / t) so that one very close neighbour beats several far ones', async () => {
    // bank: one class-0 vector right on the query, three class-1 vectors at ~60 degrees
    const bank = l2Normalize(tf.tensor2d([[1, 0], [0.5, 0.87], [0.5, -0.87], [0.45, 0.89]]));
    const test = l2Normalize(tf.tensor2d([[1, 0]]));
    const sharp = await weightedKnn(bank, Int32Array.from([0, 1, 1, 1]), test, Int32Array.from([0]), { k: 4, temperature: 0.1, numClasses: 2 });
    expect(sharp.predictions[0]).toBe(0);
    // with a very flat weighting the majority wins instead: proves the weights matter
    const flat = await weightedKnn(bank, Int32Array.from([0, 1, 1, 1]), test, Int32Array.from([0]), { k: 4, temperature: 100, numClasses: 2 });
    expect(flat.predictions[0]).toBe(1);
  });

  it('classifies well-separated clusters perfectly, in chunks, with k clamped to the bank', async () => {
    const centres = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    const rows: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < 30; i++) {
      const c = i % 3;
      rows.push(centres[c]!.map((v, j) => v + 0.1 * Math.sin(i * 7 + j)));
      labels.push(c);
    }
    const features = l2Normalize(tf.tensor2d(rows));
    const result = await weightedKnn(features, Int32Array.from(labels), features, Int32Array.from(labels), { k: 200, temperature: 0.1, numClasses: 3, chunkSize: 7 });
    expect(result.kUsed).toBe(30);
    expect(result.top1).toBe(1);
    expect(result.top5).toBe(1);
  });

  it('leaves each image out of its own vote when the test set is the bank', async () => {
    // two tight pairs of different classes, plus a lone class-2 point sitting on the class-0 pair
    const features = l2Normalize(tf.tensor2d([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99], [0.995, 0.05]]));
    const labels = Int32Array.from([0, 0, 1, 1, 2]);
    const withSelf = await weightedKnn(features, labels, features, labels, { k: 1, temperature: 0.1, numClasses: 3 });
    expect(withSelf.top1).toBe(1); // every point finds itself
    const leaveOneOut = await weightedKnn(features, labels, features, labels, { k: 1, temperature: 0.1, numClasses: 3, excludeSelf: true });
    expect(Array.from(leaveOneOut.predictions)).toEqual([2, 2, 1, 1, 0]);
    expect(leaveOneOut.top1).toBeCloseTo(2 / 5);
  });

  it('rejects mismatched labels and an empty bank', async () => {
    const f = l2Normalize(tf.tensor2d([[1, 0]]));
    await expect(weightedKnn(f, Int32Array.from([0, 1]), f, Int32Array.from([0]), { k: 5, temperature: 0.1, numClasses: 2 })).rejects.toThrow(/bank labels/);
  });

  it('leaves no tensors behind', async () => {
    const f = l2Normalize(tf.randomNormal([20, 4]) as tf.Tensor2D);
    const labels = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    await weightedKnn(f, labels, f, labels, { k: 5, temperature: 0.1, numClasses: 2 });
    const before = tf.memory().numTensors;
    await weightedKnn(f, labels, f, labels, { k: 5, temperature: 0.1, numClasses: 2 });
    expect(tf.memory().numTensors).toBe(before);
  });
});
