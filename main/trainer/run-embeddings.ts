/** Embeds every image of the run's folder with the trained query encoder and stores the matrix. */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '../core/atomic-file.js';
import { writeEmbeddings } from '../core/embeddings/embedding-store.js';
import type { RgbImage } from '../ml/augment.js';
import { embedImages, type Representation } from '../ml/batches.js';
import type { EmbeddingMatrix } from '../ml/compute-host.js';
import { applyStandardisation, fitStandardisation, standardiseRowsInPlace, type FeatureStandardisation } from '../ml/feature-standardisation.js';
import { forEachBlock } from '../ml/image-source.js';
import type { Encoder } from '../ml/resnet.js';
import type { TrainingImages } from './training-images.js';

/** What the product embeds, searches and monitors: the query encoder's features of this kind. */
export const EMBEDDING_REPRESENTATION: Representation = 'backbone';

/** Beside the matrix: the folder statistics its rows were standardised with (outside images get the same). */
export const STANDARDISATION_FILE = 'standardisation.json';
/** Images per embed call of a whole folder: bounds the images and eval pixels held at once. */
const EMBED_FILE_BLOCK = 1024;

/**
 * The product's embedding of a set of images [M, C]: the query encoder's pooled features in eval
 * mode, standardised per dimension with these images' statistics (issue 10, docs/moco.md), and
 * L2-normalised. Caller owns `features`.
 */
export async function embedStandardised(encoder: Encoder, images: readonly RgbImage[], imageSize: number): Promise<{ features: tf.Tensor2D; standardisation: FeatureStandardisation }> {
  const raw = embedImages(encoder, images, imageSize, EMBEDDING_REPRESENTATION);
  try {
    const standardisation = await fitStandardisation(raw);
    return { features: applyStandardisation(raw, standardisation), standardisation };
  } finally {
    raw.dispose();
  }
}

/**
 * The product's embedding from features the encoder produced elsewhere (a compute host, issue 9):
 * rows [M, dim] (L2-normalised pooled features) standardised with their own statistics and
 * L2-normalised again, as embedStandardised does in this thread. Caller owns `features`.
 */
export function standardiseMatrix({ values, dim }: EmbeddingMatrix): { features: tf.Tensor2D; standardisation: FeatureStandardisation } {
  const rows = Float32Array.from(values);
  const standardisation = standardiseRowsInPlace(rows, dim);
  return { features: tf.tensor2d(rows, [rows.length / dim, dim]), standardisation };
}

export async function writeRunEmbeddings(encoder: Encoder, data: TrainingImages, imageSize: number, directory: string, checkpointPath: string): Promise<void> {
  // eval mode (running BN statistics), resize + centre crop; block by block from the store (issue 14)
  const matrix = { values: new Float32Array(0), dim: 0 };
  await forEachBlock(data.source, EMBED_FILE_BLOCK, async (images, start) => {
    const raw = embedImages(encoder, images, imageSize, EMBEDDING_REPRESENTATION);
    const values = await raw.data().finally(() => { raw.dispose(); });
    if (matrix.dim === 0) {
      matrix.dim = values.length / images.length;
      matrix.values = new Float32Array(data.count * matrix.dim);
    }
    matrix.values.set(values, start * matrix.dim);
  });
  await writeRunEmbeddingMatrix(matrix, data, directory, checkpointPath);
}

/**
 * Stores embeddings computed elsewhere (a compute host), one row per image of the run's folder:
 * standardised, L2-normalised, with the statistics beside them for outside images. `raw.values`
 * is standardised in place (it is the caller's to give up).
 */
export async function writeRunEmbeddingMatrix(raw: EmbeddingMatrix, data: TrainingImages, directory: string, checkpointPath: string): Promise<void> {
  // In place, in JavaScript: the whole folder's matrix is never copied into tensors (issue 14).
  const { values: matrix, dim } = raw;
  const standardisation = standardiseRowsInPlace(matrix, dim);
  const checkpoint = checkpointPath ? basename(checkpointPath) : 'final';
  await writeEmbeddings(directory, {
    matrix,
    dim,
    items: data.relativePaths.map((relativePath, i) => ({ relativePath, className: data.classes[data.labels[i]!] ?? null })),
    checkpoint,
  });
  await writeFileAtomic(join(directory, STANDARDISATION_FILE), `${JSON.stringify({ checkpoint, ...standardisation })}\n`);
}

/**
 * The statistics stored with a run's embeddings, when they came from `checkpointPath`; null when
 * there are none (embeddings written before issue 10) or they belong to another checkpoint.
 */
export async function readStandardisation(directory: string, checkpointPath: string): Promise<FeatureStandardisation | null> {
  const text = await readFile(join(directory, STANDARDISATION_FILE), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as { checkpoint?: unknown; mean?: unknown; std?: unknown };
    if (parsed.checkpoint !== basename(checkpointPath) || !Array.isArray(parsed.mean) || !Array.isArray(parsed.std)) return null;
    return { mean: parsed.mean as number[], std: parsed.std as number[] };
  } catch {
    return null;
  }
}
