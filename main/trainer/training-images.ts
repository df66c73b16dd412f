/** The folder's images, decoded (or read from the cache) and ready for training. */
import type { RgbImage } from '../ml/augment.js';
import { loadImageFolder } from '../core/images/load.js';
import type { ScanOnceProgress } from '../core/images/scan-manifest.js';

export interface TrainingImages {
  readonly images: readonly RgbImage[];
  readonly relativePaths: readonly string[];
  /** Class index per image (-1 when the image is not in a class subfolder). */
  readonly labels: readonly number[];
  readonly classes: readonly string[];
  readonly skipped: { path: string; reason: string }[];
  readonly found: number;
  readonly fromCache: number;
}

export async function loadTrainingImages(folder: string, cacheDirectory: string, storeSize: number, onProgress: (done: number, total: number) => void, onScanProgress?: (progress: ScanOnceProgress) => void): Promise<TrainingImages> {
  const loaded = await loadImageFolder(folder, { storeSize, cacheDir: cacheDirectory, onProgress, ...(onScanProgress ? { onScanProgress } : {}) });
  const classes = [...loaded.classes];
  return {
    images: loaded.items.map((item) => item.image),
    relativePaths: loaded.items.map((item) => item.relativePath),
    labels: loaded.items.map((item) => (item.className === null ? -1 : classes.indexOf(item.className))),
    classes,
    skipped: loaded.skipped.map((s) => ({ path: s.relativePath, reason: s.reason })),
    found: loaded.stats.found,
    fromCache: loaded.stats.fromCache,
  };
}
