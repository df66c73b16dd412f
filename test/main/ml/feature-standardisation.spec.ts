import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyStandardisation, fitStandardisation, standardiseRowsInPlace } from '../../../main/ml/feature-standardisation.js';
import { Rng } from '../../../main/ml/rng.js';
import { useBackend } from '../../helpers/backend.js';

/** Rows like pooled ReLU features: non-negative, a large common part, one constant dimension. */
function features(rows: number, dim: number): Float32Array {
  const rng = new Rng(11);
  const values = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) values[r * dim + j] = j === 3 ? 0.25 : 0.5 + Math.max(0, rng.nextUint32() / 2 ** 32 - 0.3) * (1 + j / dim);
  }
  return values;
}

describe('standardiseRowsInPlace (issue 14: a whole folder standardised without tensor copies)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('gives the tensor form (fitStandardisation + applyStandardisation) within float32 rounding, in place', async () => {
    const rows = 300;
    const dim = 24;
    const values = features(rows, dim);
    const tensor = tf.tensor2d(values, [rows, dim]);
    const fitted = await fitStandardisation(tensor);
    const expected = tf.tidy(() => applyStandardisation(tensor, fitted).dataSync());
    tensor.dispose();
    const before = tf.memory().numTensors;

    const standardisation = standardiseRowsInPlace(values, dim);
    expect(tf.memory().numTensors).toBe(before);
    for (let j = 0; j < dim; j++) {
      expect(standardisation.mean[j]).toBeCloseTo(fitted.mean[j]!, 5);
      expect(standardisation.std[j]).toBeCloseTo(fitted.std[j]!, 5);
    }
    let largest = 0;
    for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]! - expected[i]!));
    expect(largest).toBeLessThan(2e-5);
    // the constant dimension: std floored at 1e-6, not a division by zero
    expect(standardisation.std[3]).toBe(1e-6);
    for (let r = 0; r < rows; r++) expect(Math.hypot(...values.subarray(r * dim, (r + 1) * dim))).toBeCloseTo(1, 5);
  });

  it('keeps a direction for rows equal to the mean, and names a shape that does not fit', () => {
    const same = new Float32Array([0.2, 0.4, 0.2, 0.4]);
    standardiseRowsInPlace(same, 2);
    expect(Math.hypot(same[0]!, same[1]!)).toBeCloseTo(1, 5);
    expect(same[1]!).toBeGreaterThan(same[0]!);
    expect(() => standardiseRowsInPlace(new Float32Array(5), 2)).toThrow(/5 values do not make rows of 2/);
    expect(() => standardiseRowsInPlace(new Float32Array(0), 2)).toThrow(/no rows/);
  });
});
