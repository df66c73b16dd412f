/** Embeds every image of the run's folder with the trained query encoder and stores the matrix. */
import { basename } from 'node:path';
import { writeEmbeddings } from '../core/embeddings/embedding-store.js';
import { embedImages } from '../ml/batches.js';
import type { EmbeddingMatrix } from '../ml/compute-host.js';
import type { Encoder } from '../ml/resnet.js';
import type { TrainingImages } from './training-images.js';

export async function writeRunEmbeddings(encoder: Encoder, data: TrainingImages, imageSize: number, directory: string, checkpointPath: string): Promise<void> {
  // eval mode (running BN statistics), resize + centre crop, L2-normalised: as the reference's evaluation
  const features = embedImages(encoder, data.images, imageSize);
  const matrix = Float32Array.from(features.dataSync());
  const dim = features.shape[1];
  features.dispose();
  await writeRunEmbeddingMatrix({ values: matrix, dim }, data, directory, checkpointPath);
}

/** Stores embeddings [M, dim] computed elsewhere (a compute host), one row per image of the run's folder. */
export async function writeRunEmbeddingMatrix({ values: matrix, dim }: EmbeddingMatrix, data: TrainingImages, directory: string, checkpointPath: string): Promise<void> {
  await writeEmbeddings(directory, {
    matrix,
    dim,
    items: data.relativePaths.map((relativePath, i) => ({ relativePath, className: data.classes[data.labels[i]!] ?? null })),
    checkpoint: checkpointPath ? basename(checkpointPath) : 'final',
  });
}
