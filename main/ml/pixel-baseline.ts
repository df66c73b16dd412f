/**
 * The raw-pixel baseline an embedding has to beat (issue 10): each image's deterministic eval
 * view at the training size (resize + centre crop, ImageNet-normalised), flattened to
 * [M, S*S*3], standardised per dimension with the bank's mean and std, then L2-normalised so the
 * same cosine kNN scores it as an encoder's features.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from './augment.js';
import { makeEvalBatch } from './batches.js';
import { l2Normalize } from './contrastive-loss.js';

export interface PixelStatistics {
  /** [1, S*S*3] each; the caller owns both. */
  readonly mean: tf.Tensor2D;
  readonly std: tf.Tensor2D;
}

function flatPixels(images: readonly RgbImage[], size: number): tf.Tensor2D {
  return tf.tidy(() => tf.reshape(makeEvalBatch(images, size), [images.length, size * size * 3]));
}

/** Per-dimension mean and std of the bank's pixels (std floored, so constant pixels do not divide by 0). */
export function pixelStatistics(bank: readonly RgbImage[], size: number): PixelStatistics {
  if (bank.length === 0) throw new Error('pixelStatistics: no images');
  return tf.tidy(() => {
    const x = flatPixels(bank, size);
    const { mean, variance } = tf.moments(x, 0, true);
    return { mean: tf.keep(mean as tf.Tensor2D), std: tf.keep(tf.maximum<tf.Tensor2D>(tf.sqrt(variance), 1e-3)) };
  });
}

/** Standardised, L2-normalised pixels [M, S*S*3]; caller owns the result. */
export function pixelFeatures(images: readonly RgbImage[], size: number, statistics: PixelStatistics): tf.Tensor2D {
  const parts: tf.Tensor2D[] = [];
  const chunk = 256;
  for (let start = 0; start < images.length; start += chunk) {
    parts.push(tf.tidy(() => l2Normalize(tf.div(tf.sub(flatPixels(images.slice(start, start + chunk), size), statistics.mean), statistics.std))));
  }
  if (parts.length === 0) throw new Error('pixelFeatures: no images');
  if (parts.length === 1) return parts[0]!;
  const all = tf.concat(parts, 0);
  parts.forEach((p) => { p.dispose(); });
  return all;
}
