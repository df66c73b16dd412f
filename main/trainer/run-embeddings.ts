/** Embeds every image of the run's folder with the trained query encoder and stores the matrix. */
import { basename } from 'node:path';
import { writeEmbeddings } from '../core/embeddings/embedding-store.js';
import { embedImages } from '../ml/batches.js';
import type { Encoder } from '../ml/resnet.js';
import type { TrainingImages } from './training-images.js';

export async function writeRunEmbeddings(encoder: Encoder, data: TrainingImages, imageSize: number, directory: string, checkpointPath: string): Promise<void> {
  // eval mode (running BN statistics), resize + centre crop, L2-normalised: as the reference's evaluation
  const features = embedImages(encoder, data.images, imageSize);
  const dim = features.shape[1];
  // `await data()`: the only read of a GPU tensor in Node (issue 8).
  const matrix = Float32Array.from(await features.data().finally(() => { features.dispose(); }));
  await writeEmbeddings(directory, {
    matrix,
    dim,
    items: data.relativePaths.map((relativePath, i) => ({ relativePath, className: data.classes[data.labels[i]!] ?? null })),
    checkpoint: checkpointPath ? basename(checkpointPath) : 'final',
  });
}
