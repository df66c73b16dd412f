/**
 * The raw-pixel "embedding" of a run's folder, for the Neighbours view's Pixels switch (issue 10
 * item 3): every image's eval view at the run's training size, flattened, standardised per
 * dimension with the folder's mean and std, then L2-normalised: the baseline of
 * main/ml/pixel-baseline.ts (the kNN monitor's and `npm run eval`'s), stored like any embeddings
 * in `<run>/embeddings/pixels/` with its statistics beside it, so an uploaded query lands in the
 * same space. Plain float arithmetic, block by block from the image store: no tfjs backend is
 * needed, and memory is the matrix plus one block.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainerCommand, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { decodeImageFile, ImageDecodeError } from '../core/images/decode.js';
import { writeEmbeddings } from '../core/embeddings/embedding-store.js';
import { pixelEmbeddingsDirectory, PIXELS_SOURCE } from '../core/embeddings/pixel-directory.js';
import { readRunRecord } from '../core/run-store.js';
import type { RgbImage } from '../ml/augment.js';
import { makeEvalPixels } from '../ml/batches.js';
import { forEachBlock, type ImageSource } from '../ml/image-source.js';
import { storeSizeFor } from './training-config.js';
import { loadTrainingImages } from './training-images.js';

type Command<T extends TrainerCommand['type']> = Extract<TrainerCommand, { type: T }>;

export const PIXEL_STATISTICS_FILE = 'pixel-statistics.json';
/** 256 MB of float32: about 21,000 images at 32 px (3,072 dims), 5,400 at 64 px. Beyond it the switch says why it is off. */
export const MAX_PIXEL_MATRIX_VALUES = 64 * 1024 * 1024;
const BLOCK = 512;
/** As main/ml/pixel-baseline.ts: a constant pixel does not divide by 0. */
const STD_FLOOR = 1e-3;

export interface PixelStatistics {
  readonly imageSize: number;
  readonly mean: Float32Array;
  readonly std: Float32Array;
}

/** Per-dimension mean and (population) std of the eval pixels of every image of `source`, in float64 sums. */
export async function pixelStatisticsOf(source: ImageSource, imageSize: number): Promise<PixelStatistics> {
  const dim = imageSize * imageSize * 3;
  const sum = new Float64Array(dim);
  const squares = new Float64Array(dim);
  await forEachBlock(source, BLOCK, (images) => {
    const pixels = makeEvalPixels(images, imageSize);
    for (let offset = 0; offset < pixels.length; offset += dim) {
      for (let j = 0; j < dim; j++) {
        const v = pixels[offset + j]!;
        sum[j]! += v;
        squares[j]! += v * v;
      }
    }
  });
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    const m = sum[j]! / source.count;
    mean[j] = m;
    std[j] = Math.max(Math.sqrt(Math.max(0, squares[j]! / source.count - m * m)), STD_FLOOR);
  }
  return { imageSize, mean, std };
}

/** Standardised, L2-normalised eval pixels of `images`, written into `out` from row `row`. */
export function writePixelRows(images: readonly RgbImage[], statistics: PixelStatistics, out: Float32Array, row: number): void {
  const { imageSize, mean, std } = statistics;
  const dim = mean.length;
  const pixels = makeEvalPixels(images, imageSize);
  for (let i = 0; i < images.length; i++) {
    const base = (row + i) * dim;
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = (pixels[i * dim + j]! - mean[j]!) / std[j]!;
      out[base + j] = v;
      norm += v * v;
    }
    // An image equal to the mean everywhere has no direction; it stays the zero vector's neighbour of nothing.
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < dim; j++) out[base + j]! *= scale;
  }
}

async function runImageSize(runDirectory: string): Promise<{ folder: string; imageSize: number }> {
  const record = await readRunRecord(runDirectory);
  if (!record.settings) throw new Error(`Run ${runDirectory} has not trained yet (no settings recorded, so no training size)`);
  return { folder: record.folder, imageSize: record.settings.imageSize };
}

/** Embeds the run's folder as pixels into pixelEmbeddingsDirectory (with the statistics file). */
export async function embedRunPixels(command: Command<'embed'>, onProgress: (done: number, total: number) => void): Promise<TrainerEventOf<'embedded'>> {
  const { folder, imageSize } = await runImageSize(command.runDirectory);
  const data = await loadTrainingImages(folder, command.cacheDirectory, storeSizeFor(imageSize), onProgress);
  try {
    if (data.count === 0) throw new Error(`No usable image in ${folder}`);
    const dim = imageSize * imageSize * 3;
    if (data.count * dim > MAX_PIXEL_MATRIX_VALUES) {
      throw new Error(`${data.count} images of ${dim} pixel values are more than the ${MAX_PIXEL_MATRIX_VALUES / 1024 / 1024} M values the pixel view holds; compare with random init instead`);
    }
    const statistics = await pixelStatisticsOf(data.source, imageSize);
    const matrix = new Float32Array(data.count * dim);
    await forEachBlock(data.source, BLOCK, (images, start) => { writePixelRows(images, statistics, matrix, start); });
    const directory = command.outputDirectory ?? pixelEmbeddingsDirectory(command.runDirectory);
    await writeEmbeddings(directory, {
      matrix, dim, checkpoint: PIXELS_SOURCE,
      items: data.relativePaths.map((relativePath, i) => ({ relativePath, className: data.classes[data.labels[i]!] ?? null })),
    });
    await writeFileAtomic(join(directory, PIXEL_STATISTICS_FILE), `${JSON.stringify({ imageSize, mean: Array.from(statistics.mean), std: Array.from(statistics.std) })}\n`);
    return { type: 'embedded', directory, rows: data.count, dim, checkpoint: PIXELS_SOURCE };
  } finally {
    await data.source.close();
  }
}

async function readPixelStatistics(directory: string): Promise<PixelStatistics> {
  const path = join(directory, PIXEL_STATISTICS_FILE);
  const text = await readFile(path, 'utf8').catch(() => { throw new Error(`No pixel statistics at ${path}: embed the run's folder as pixels first`); });
  const parsed = JSON.parse(text) as { imageSize?: unknown; mean?: unknown; std?: unknown };
  const { imageSize, mean, std } = parsed;
  if (typeof imageSize !== 'number' || !Array.isArray(mean) || !Array.isArray(std) || mean.length !== imageSize * imageSize * 3 || std.length !== mean.length) {
    throw new Error(`${path} is not a pixel statistics file`);
  }
  return { imageSize, mean: Float32Array.from(mean as number[]), std: Float32Array.from(std as number[]) };
}

/** Image files (an uploaded query) as pixel vectors in the space of the run's pixel embeddings. */
export async function embedFilesAsPixels(command: Command<'embed-files'>): Promise<TrainerEventOf<'vectors'>> {
  const statistics = await readPixelStatistics(pixelEmbeddingsDirectory(command.runDirectory));
  const dim = statistics.mean.length;
  const vectors: number[][] = command.files.map(() => []);
  const failures: { path: string; reason: string }[] = [];
  for (const [i, file] of command.files.entries()) {
    try {
      const { image } = await decodeImageFile(file, { storeSize: storeSizeFor(statistics.imageSize) });
      const row = new Float32Array(dim);
      writePixelRows([image], statistics, row, 0);
      vectors[i] = Array.from(row);
    } catch (error) {
      failures.push({ path: file, reason: error instanceof ImageDecodeError ? error.reason : (error as Error).message });
    }
  }
  return { type: 'vectors', dim, vectors, failures };
}
