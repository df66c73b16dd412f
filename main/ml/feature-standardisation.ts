/**
 * Per-dimension standardisation of embeddings before the cosine (issue 10): z = (f - mean) / std
 * with the folder's own statistics, then L2 normalisation. Pooled ReLU features share a large
 * common component (every coordinate is >= 0), so raw cosines between any two images sit near 1
 * and the kNN vote is decided by small differences; removing the mean and equalising the
 * dimensions lets every feature vote. The pixel baseline gets the same treatment, so the
 * comparison stays fair. Deviation from the reference (its kNN monitor uses raw normalised
 * features): measured in docs/moco.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize } from './contrastive-loss.js';

export interface FeatureStandardisation {
  /** Per-dimension mean and std of the fitted features, length C each. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/**
 * Statistics of features [M, C] (std floored at 1e-6 so constant dimensions do not divide by 0).
 * Asynchronous: `await data()` is the only read of a GPU tensor in Node (issue 8).
 */
export async function fitStandardisation(features: tf.Tensor2D): Promise<FeatureStandardisation> {
  if (features.shape[0] === 0) throw new Error('fitStandardisation: no rows');
  const moments = tf.tidy(() => {
    const { mean, variance } = tf.moments(features, 0);
    return { mean, std: tf.maximum(tf.sqrt(variance), 1e-6) };
  });
  const meanTensor: tf.Tensor = moments.mean;
  const stdTensor: tf.Tensor = moments.std;
  try {
    const [mean, std] = await Promise.all([meanTensor.data(), stdTensor.data()]);
    return { mean: Array.from(mean), std: Array.from(std) };
  } finally {
    meanTensor.dispose();
    stdTensor.dispose();
  }
}

/** [M, C] -> standardised, L2-normalised [M, C]; caller owns the result. */
export function applyStandardisation(features: tf.Tensor2D, standardisation: FeatureStandardisation): tf.Tensor2D {
  const dim = features.shape[1];
  if (standardisation.mean.length !== dim || standardisation.std.length !== dim) {
    throw new Error(`applyStandardisation: statistics for ${standardisation.mean.length} dimensions, features have ${dim}`);
  }
  return tf.tidy(() => {
    const z = tf.div(tf.sub(features, tf.tensor2d([...standardisation.mean], [1, dim])), tf.tensor2d([...standardisation.std], [1, dim]));
    // A row equal to the mean (a folder of identical images) would standardise to zero and have
    // no direction; a trace of the raw direction keeps every row unit-length, negligible otherwise.
    return l2Normalize(tf.add(z, tf.mul(l2Normalize(features), 1e-3)));
  });
}

/**
 * fitStandardisation + applyStandardisation for rows [M, dim] held in a Float32Array, done in
 * place in plain JavaScript: for a whole folder's matrix (issue 14). The tensor form makes several
 * full-size copies of it (the input, the centred and squared moments, each step of the
 * normalisation, the read-back) and wasm memory never shrinks: the embed job peaked at 934 MB at
 * 100k images. Statistics are summed in float64; results agree with the tensor form within float32
 * rounding (feature-standardisation.spec).
 */
export function standardiseRowsInPlace(values: Float32Array, dim: number): FeatureStandardisation {
  const rows = values.length / dim;
  if (!Number.isInteger(dim) || dim < 1 || !Number.isInteger(rows)) throw new Error(`standardiseRowsInPlace: ${values.length} values do not make rows of ${dim}`);
  if (rows === 0) throw new Error('standardiseRowsInPlace: no rows');
  const mean = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let j = 0, at = r * dim; j < dim; j++, at++) mean[j]! += values[at]!;
  for (let j = 0; j < dim; j++) mean[j]! /= rows;
  // Two passes (mean, then squared deviations), as tf.moments: the biased variance.
  const variance = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0, at = r * dim; j < dim; j++, at++) {
      const d = values[at]! - mean[j]!;
      variance[j]! += d * d;
    }
  }
  const std = Array.from(variance, (sum) => Math.max(Math.sqrt(sum / rows), 1e-6));
  const row = new Float64Array(dim);
  for (let r = 0, start = 0; r < rows; r++, start += dim) {
    let rawNorm = 0;
    for (let j = 0; j < dim; j++) rawNorm += values[start + j]! ** 2;
    // The same trace of the raw direction as applyStandardisation, so a row equal to the mean keeps a direction.
    const trace = 1e-3 / Math.max(Math.sqrt(rawNorm), 1e-12);
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const x = values[start + j]!;
      const value = (x - mean[j]!) / std[j]! + trace * x;
      row[j] = value;
      norm += value * value;
    }
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let j = 0; j < dim; j++) values[start + j] = row[j]! * scale;
  }
  return { mean: Array.from(mean), std };
}
