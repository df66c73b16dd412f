/**
 * Label-free measures of an embedding (issue 10 Deliver 3), for folders without classes:
 * - uniformity (Wang & Isola 2020, "Understanding Contrastive Representation Learning through
 *   Alignment and Uniformity on the Hypersphere", eq. 5, t = 2): log E_{i != j} exp(-t |x_i - x_j|^2)
 *   over L2-normalised rows; 0 is collapse to one point, -8 (t = 2, |x-y|^2 = 4) two antipodal
 *   points, and about -3.9 many points spread uniformly on a high-dimensional sphere (E|x-y|^2 = 2);
 * - nearest-neighbour lists, whose agreement between two epochs says whether the embedding
 *   still changes (near 1: it has settled).
 * Reads are `await data()` (webgpu in Node cannot read synchronously); tensors stay inside tidy.
 */
import * as tf from '@tensorflow/tfjs-core';

/** features [N, C], rows L2-normalised, N >= 2. */
export async function uniformity(features: tf.Tensor2D, t = 2): Promise<number> {
  const n = features.shape[0];
  if (n < 2) throw new Error(`uniformity: needs at least 2 rows, got ${n}`);
  const mean = tf.tidy(() => {
    const sim = tf.matMul(features, features, false, true); // [N, N]
    const squaredDistance = tf.maximum(tf.sub(2, tf.mul(2, sim)), 0); // |x-y|^2 = 2 - 2 cos for unit rows
    const kernel = tf.exp(tf.mul(-t, squaredDistance));
    // The diagonal (exp(0) = 1 each) is not a pair.
    return tf.div(tf.sub(tf.sum(kernel), n), n * (n - 1));
  });
  try {
    const [value] = await mean.data();
    return Math.log(Math.max(value!, Number.MIN_VALUE));
  } finally {
    mean.dispose();
  }
}

/** The k most cosine-similar other rows of every row: [N * k] row indices, row-major. features [N, C] L2-normalised. */
export async function nearestNeighbours(features: tf.Tensor2D, k: number): Promise<Int32Array> {
  const n = features.shape[0];
  const kUsed = Math.min(k, n - 1);
  if (kUsed < 1) throw new Error(`nearestNeighbours: needs at least 2 rows, got ${n}`);
  const indices = tf.tidy(() => {
    const sim = tf.matMul(features, features, false, true); // [N, N]
    const masked = tf.sub(sim, tf.mul(tf.eye(n), 1e4)); // a row is not its own neighbour
    return tf.topk(masked, kUsed, true).indices; // [N, kUsed]
  });
  try {
    return Int32Array.from(await indices.data());
  } finally {
    indices.dispose();
  }
}

/** Mean share of each row's neighbours in `after` that it also had in `before` (same N, same k). */
export function neighbourAgreement(before: Int32Array, after: Int32Array, k: number): number {
  if (before.length !== after.length || before.length % k !== 0 || before.length === 0) throw new Error(`neighbourAgreement: lists of ${before.length} and ${after.length} for k = ${k}`);
  const rows = before.length / k;
  let shared = 0;
  for (let r = 0; r < rows; r++) {
    const old = new Set(before.subarray(r * k, (r + 1) * k));
    for (let j = 0; j < k; j++) if (old.has(after[r * k + j]!)) shared++;
  }
  return shared / before.length;
}
