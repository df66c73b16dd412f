/**
 * Weighted k-nearest-neighbour monitor (InstDisc style, as in the reference CIFAR demo): the
 * L2-normalised features of labelled training images form a memory bank; each test feature
 * votes with its k most cosine-similar bank entries, each weighted by exp(sim / t); the class
 * with the largest summed weight wins. Cheap enough to run every epoch.
 * Defaults from the demo: k = 200 (fewer when the bank is smaller), t = 0.1.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KnnOptions {
  /** k: neighbours that vote (clamped to the bank size). */
  readonly k: number;
  /** t: temperature of the vote weights exp(sim / t). */
  readonly temperature: number;
  readonly numClasses: number;
  /** Test rows scored per matrix product, to bound memory on large banks. */
  readonly chunkSize?: number;
  /**
   * The test set IS the bank (one folder, leave-one-out): each row's own entry does not vote.
   * Used by the per-epoch monitor on a single labelled folder.
   */
  readonly excludeSelf?: boolean;
}

export const DEFAULT_KNN = { k: 200, temperature: 0.1 } as const;

export interface KnnResult {
  readonly top1: number;
  readonly top5: number;
  /** Predicted class per test row. */
  readonly predictions: Int32Array;
  readonly kUsed: number;
}

/**
 * bankFeatures [Nb, C] and testFeatures [Nt, C] must be L2-normalised; labels are class indices.
 * Asynchronous: the similarities are read with `await data()`, the only read of a GPU tensor in
 * Node (issue 8). The caller keeps ownership of the features (not inside a tf.tidy: it cannot await).
 */
export async function weightedKnn(bankFeatures: tf.Tensor2D, bankLabels: Int32Array, testFeatures: tf.Tensor2D, testLabels: Int32Array, options: KnnOptions): Promise<KnnResult> {
  const bankSize = bankFeatures.shape[0];
  if (bankLabels.length !== bankSize) throw new Error(`kNN: ${bankLabels.length} bank labels for ${bankSize} bank features`);
  if (testLabels.length !== testFeatures.shape[0]) throw new Error(`kNN: ${testLabels.length} test labels for ${testFeatures.shape[0]} test features`);
  if (bankSize === 0) throw new Error('kNN: the memory bank is empty');
  const excludeSelf = options.excludeSelf ?? false;
  if (excludeSelf && testLabels.length !== bankSize) throw new Error('kNN: excludeSelf needs the test set to be the bank');
  const k = Math.max(1, Math.min(options.k, bankSize - (excludeSelf ? 1 : 0)));
  const fetch = excludeSelf ? k + 1 : k;
  const chunk = options.chunkSize ?? 256;
  const numClasses = options.numClasses;
  const predictions = new Int32Array(testLabels.length);
  let correct1 = 0;
  let correct5 = 0;
  const scores = new Float64Array(numClasses);
  const bankT = tf.transpose(bankFeatures); // [C, Nb]
  try {
    for (let start = 0; start < testLabels.length; start += chunk) {
      const rows = Math.min(chunk, testLabels.length - start);
      const { values, indices } = tf.tidy(() => {
        const sim = tf.matMul(tf.slice(testFeatures, [start, 0], [rows, -1]), bankT); // [rows, Nb]
        return tf.topk(sim, fetch, true);
      });
      let sims: Float32Array | Int32Array | Uint8Array;
      let idx: Float32Array | Int32Array | Uint8Array;
      try {
        [sims, idx] = await Promise.all([values.data(), indices.data()]);
      } finally {
        values.dispose();
        indices.dispose();
      }
      for (let r = 0; r < rows; r++) {
        scores.fill(0);
        let used = 0;
        for (let j = 0; j < fetch && used < k; j++) {
          const bankRow = idx[r * fetch + j]!;
          if (excludeSelf && bankRow === start + r) continue;
          used++;
          scores[bankLabels[bankRow]!]! += Math.exp(sims[r * fetch + j]! / options.temperature);
        }
        const truth = testLabels[start + r]!;
        const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]!);
        predictions[start + r] = order[0]!;
        if (order[0] === truth) correct1++;
        if (order.slice(0, 5).includes(truth)) correct5++;
      }
    }
  } finally {
    bankT.dispose();
  }
  const n = Math.max(1, testLabels.length);
  return { top1: correct1 / n, top5: correct5 / n, predictions, kUsed: k };
}
