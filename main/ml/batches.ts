/**
 * From images in memory to the tensors a step consumes: two augmented views per image for
 * training (TwoCropsTransform), one deterministic view for embedding and kNN.
 */
import * as tf from '@tensorflow/tfjs-core';
import { evalTransform, twoCropsTransform, type AugmentationConfig, type AugmentationParams, type RgbImage } from './augment.js';
import { l2Normalize } from './contrastive-loss.js';
import type { Encoder } from './resnet.js';
import type { Rng } from './rng.js';

export interface TwoCropBatch {
  readonly queries: tf.Tensor4D; // x_q [N, S, S, 3], ImageNet-normalised
  readonly keys: tf.Tensor4D; // x_k [N, S, S, 3]
  /** What each crop drew, in batch order, for the UI's augmentation previews. */
  readonly params: readonly { readonly query: AugmentationParams; readonly key: AugmentationParams }[];
  /** The raw normalised pixels, kept so previews can be made without reading tensors back. */
  readonly queryPixels: Float32Array;
  readonly keyPixels: Float32Array;
}

/** The pixels of a two-crop batch without tensors (what a compute host is sent). */
export type TwoCropPixels = Omit<TwoCropBatch, 'queries' | 'keys'>;

export function makeTwoCropBatch(images: readonly RgbImage[], indices: ArrayLike<number>, config: AugmentationConfig, rng: Rng): TwoCropBatch {
  const pixels = makeTwoCropPixels(images, indices, config, rng);
  const n = indices.length;
  const s = config.outputSize;
  return { ...pixels, queries: tf.tensor4d(pixels.queryPixels, [n, s, s, 3]), keys: tf.tensor4d(pixels.keyPixels, [n, s, s, 3]) };
}

export function makeTwoCropPixels(images: readonly RgbImage[], indices: ArrayLike<number>, config: AugmentationConfig, rng: Rng): TwoCropPixels {
  const n = indices.length;
  const s = config.outputSize;
  const perImage = s * s * 3;
  const queryPixels = new Float32Array(n * perImage);
  const keyPixels = new Float32Array(n * perImage);
  const params: { query: AugmentationParams; key: AugmentationParams }[] = [];
  for (let i = 0; i < n; i++) {
    const image = images[indices[i]!];
    if (!image) throw new Error(`makeTwoCropBatch: no image at index ${indices[i]}`);
    params.push(twoCropsTransform(image, config, rng, queryPixels, keyPixels, i * perImage));
  }
  return { params, queryPixels, keyPixels };
}

export function makeEvalBatch(images: readonly RgbImage[], size: number): tf.Tensor4D {
  return tf.tensor4d(makeEvalPixels(images, size), [images.length, size, size, 3]);
}

/** Eval-transformed pixels [M, S, S, 3] of images (resize + centre crop, normalised). */
export function makeEvalPixels(images: readonly RgbImage[], size: number): Float32Array {
  const perImage = size * size * 3;
  const pixels = new Float32Array(images.length * perImage);
  images.forEach((image, i) => evalTransform(image, size, pixels, i * perImage));
  return pixels;
}

/**
 * What an embedding is taken from: the pooled backbone features (the representation the paper
 * evaluates with its linear probe, and what we store, search and monitor with kNN), or the head's
 * output (what the CIFAR demo's kNN monitor uses). On the sample set the backbone was as good or
 * better, and it does not depend on the head being linear or an MLP.
 */
export type Representation = 'backbone' | 'head' | 'multistage';

/** Channels of an embedding of `representation` from `encoder`. */
export function representationChannels(encoder: Encoder, representation: Representation): number {
  if (representation === 'head') return encoder.config.dim;
  if (representation === 'backbone') return encoder.featureChannels;
  return tf.tidy(() => encoder.stageFeatures(tf.zeros([1, 8, 8, 3]), 'eval').reduce((sum, f) => sum + f.shape[1], 0));
}

/**
 * Multi-stage embedding [N, sum C_s]: each stage's pooled features L2-normalised and scaled by
 * 1/sqrt(stages), so every stage weighs the same in a cosine and the row has unit norm.
 */
function multiStageEmbedding(encoder: Encoder, x: tf.Tensor4D): tf.Tensor2D {
  const stages = encoder.stageFeatures(x, 'eval');
  return tf.mul(tf.concat(stages.map((s) => l2Normalize(s)), 1), 1 / Math.sqrt(stages.length));
}

/**
 * Several representations from one forward pass per batch (the eval harness scores them all):
 * L2-normalised [M, C_r] per representation, eval mode. Caller owns the results.
 */
export function embedImagesAs(encoder: Encoder, images: readonly RgbImage[], size: number, representations: readonly Representation[], batchSize = 64): Map<Representation, tf.Tensor2D> {
  const parts = new Map<Representation, tf.Tensor2D[]>(representations.map((r) => [r, []]));
  try {
    for (let start = 0; start < images.length; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      const outputs = tf.tidy(() => {
        const stages = encoder.stageFeatures(makeEvalBatch(chunk, size), 'eval');
        const last = stages[stages.length - 1]!;
        const made: tf.Tensor2D[] = representations.map((r) => {
          if (r === 'backbone') return l2Normalize(last);
          if (r === 'head') return l2Normalize(encoder.applyHead(last));
          return tf.mul(tf.concat(stages.map((s) => l2Normalize(s)), 1), 1 / Math.sqrt(stages.length));
        });
        return made;
      });
      representations.forEach((r, i) => parts.get(r)!.push(outputs[i]!));
    }
    const result = new Map<Representation, tf.Tensor2D>();
    for (const [r, list] of parts) result.set(r, list.length === 1 ? list[0]! : tf.concat(list, 0));
    return result;
  } finally {
    for (const list of parts.values()) if (list.length > 1) list.forEach((p) => { p.dispose(); });
  }
}

/** L2-normalised embeddings [M, C] of an eval batch x [M, S, S, 3] (eval-mode BN). Caller owns the result. */
export function embedPixels(encoder: Encoder, x: tf.Tensor4D, representation: Representation = 'backbone'): tf.Tensor2D {
  return tf.tidy(() => {
    if (representation === 'multistage') return multiStageEmbedding(encoder, x);
    return l2Normalize(representation === 'backbone' ? encoder.features(x, 'eval') : encoder.apply(x, 'eval'));
  });
}

/**
 * L2-normalised embeddings [M, C] of all images with the encoder in eval mode (running BN
 * statistics), computed in batches to bound memory. Caller owns the result.
 */
export function embedImages(encoder: Encoder, images: readonly RgbImage[], size: number, representation: Representation = 'backbone', batchSize = 64): tf.Tensor2D {
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < images.length; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      parts.push(tf.tidy(() => {
        return embedPixels(encoder, makeEvalBatch(chunk, size), representation);
      }));
    }
    if (parts.length === 0) throw new Error('embedImages: no images');
    return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
  } finally {
    if (parts.length > 1) parts.forEach((p) => { p.dispose(); });
  }
}
