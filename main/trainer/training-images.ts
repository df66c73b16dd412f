/**
 * The folder's images, decoded (or read from the cache) into the on-disk store the trainer reads
 * per batch (issue 14: memory bounded by the batch, not by the folder; main/core/images/folder-store.ts).
 */
import type { RgbImage } from '../ml/augment.js';
import { forEachBlock } from '../ml/image-source.js';
import { openImageFolderStore, type ClosableImageSource } from '../core/images/folder-store.js';
import type { ScanOnceProgress } from '../core/images/scan-manifest.js';

export interface TrainingImages {
  /** Position i is image i of `relativePaths`; read per batch. Close it when done. */
  readonly source: ClosableImageSource;
  readonly count: number;
  readonly relativePaths: readonly string[];
  /** Class index per image (-1 when the image is not in a class subfolder). */
  readonly labels: readonly number[];
  readonly classes: readonly string[];
  readonly skipped: { path: string; reason: string }[];
  readonly found: number;
  readonly fromCache: number;
  readonly decoded: number;
  /** Candidates handled per second by the load (scan, cache and decodes, store writes). */
  readonly imagesPerSecond: number;
  readonly seconds: number;
}

export async function loadTrainingImages(folder: string, cacheDirectory: string, storeSize: number, onProgress: (done: number, total: number) => void, onScanProgress?: (progress: ScanOnceProgress) => void): Promise<TrainingImages> {
  const loaded = await openImageFolderStore(folder, { storeSize, cacheDir: cacheDirectory, onProgress, ...(onScanProgress ? { onScanProgress } : {}) });
  const classes = [...loaded.classes];
  return {
    source: loaded.source,
    count: loaded.source.count,
    relativePaths: loaded.entries.map((item) => item.relativePath),
    labels: loaded.entries.map((item) => (item.className === null ? -1 : classes.indexOf(item.className))),
    classes,
    skipped: loaded.skipped.map((s) => ({ path: s.relativePath, reason: s.reason })),
    found: loaded.stats.found,
    fromCache: loaded.stats.fromCache,
    decoded: loaded.stats.decoded,
    imagesPerSecond: loaded.stats.imagesPerSecond,
    seconds: loaded.stats.ms / 1000,
  };
}

export type InMemoryTrainingImages = Omit<TrainingImages, 'source'> & { readonly images: readonly RgbImage[] };

/** The folder with every image in memory: only for jobs that need them all at once (kNN evaluation, the eval bench). */
export async function loadTrainingImagesInMemory(folder: string, cacheDirectory: string, storeSize: number, onProgress: (done: number, total: number) => void): Promise<InMemoryTrainingImages> {
  const { source, ...data } = await loadTrainingImages(folder, cacheDirectory, storeSize, onProgress);
  try {
    return { ...data, images: await readAllImages({ source }) };
  } finally {
    await source.close();
  }
}

/** Every image in memory at once: only for jobs that need them all (kNN evaluation of a test folder, the eval bench). */
export async function readAllImages(data: Pick<TrainingImages, 'source'>): Promise<RgbImage[]> {
  const all: RgbImage[] = [];
  await forEachBlock(data.source, 1024, (images) => { all.push(...images); });
  return all;
}

/** One line for the log: how fast the load went (issue 14: "report the load in img/s"). */
export function describeLoad(data: TrainingImages): string {
  return `loaded ${data.count} images (${data.decoded} decoded, ${data.fromCache} from the cache) in ${data.seconds.toFixed(1)} s: ${Math.round(data.imagesPerSecond)} img/s`;
}
