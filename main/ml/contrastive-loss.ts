/**
 * MoCo's contrastive head, as in the reference builder's forward(): L2-normalised embeddings,
 * logits [q.k, q @ queue] / T against the K queued keys, and the InfoNCE loss (cross-entropy with
 * the positive at index 0). moco.ts composes them into a training step.
 */
import * as tf from '@tensorflow/tfjs-core';

/** L2 normalisation along the last axis (F.normalize(x, dim=1) in the reference). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)));
}

/**
 * InfoNCE loss: mean cross-entropy of logits [N, 1+K] against label 0, times `scale` (a slice's
 * share of the batch when replicas each hold a slice: rows / batch rows).
 * Its gradient is written out, d loss / d logits = (softmax(logits) - onehot(0)) / N: autodiff
 * through tf.logSumExp goes back through its max with an Equal and broadcast ops over all
 * [N, 1+K] logits (~9 ms per step on wasm), the closed form is one Softmax kernel.
 */
export function infoNceLoss(logits: tf.Tensor2D, scale = 1): tf.Scalar {
  const [n, width] = logits.shape;
  const op = tf.customGrad((input, save) => {
    const l = input as tf.Tensor2D;
    const positive = tf.slice(l, [0, 0], [-1, 1]);
    const mean = tf.mean<tf.Scalar>(tf.sub(tf.logSumExp(l, 1, true), positive));
    const value = scale === 1 ? mean : tf.mul<tf.Scalar>(mean, scale);
    (save as tf.GradSaveFunc)([l]);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const factor = tf.div(dy as tf.Tensor, n / scale);
        // Built in JavaScript, not with tf.oneHot: the wasm OneHot kernel ignores its dtype and
        // writes int32 bits into a float32 tensor (1 reads as 1.4e-45).
        const onehot = new Float32Array(n * width);
        for (let i = 0; i < n; i++) onehot[i * width] = 1;
        const target = tf.tensor2d(onehot, [n, width]);
        return tf.mul(tf.sub(tf.softmax(saved[0]!), target), factor);
      },
    };
  });
  return op(logits);
}

/** logits = [q.k, q @ queue] / T. q, k: [N, C]; queue: [C, K] -> [N, 1+K]. */
export function contrastiveLogits(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.tidy(() => {
    const lPos = tf.sum(tf.mul(q, k), 1, true); // [N, 1]
    const lNeg = tf.matMul(q, queue); // [N, K]
    return tf.div(tf.concat([lPos, lNeg], 1), temperature);
  });
}
