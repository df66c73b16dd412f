/**
 * The trainer's entry to the image pipeline: scan a folder, then load every candidate image from
 * the on-disk cache or, on a miss, decode it (and fill the cache), with bounded concurrency and
 * progress callbacks. Unusable files are skipped with their reason and counted; the load always
 * finishes. Errors are thrown only when there is nothing to train on: a missing folder, a path
 * that is not a directory, or a folder without a single usable image. ("Fewer images than one
 * batch" is the caller's check: only it knows the batch size.)
 *
 * Items come back in scan order (sorted by relative path), whatever order the decodes finish in,
 * so a seed reproduces the same data set order.
 */
import { resolve } from 'node:path';
import type { RgbImage } from '../../ml/augment.js';
import { cacheKey, prepareCacheDirectory, readCacheEntry, writeCacheEntry } from './cache.js';
import { decodeImageFile, decodePipelineId, ImageDecodeError, validateDecodeOptions, type DecodeOptions } from './decode.js';
import { compareNames, compareRelativePaths, type ScanResult } from './scan.js';
import { scanImageFolderOnce, type ScanOnceProgress } from './scan-manifest.js';

/** Files loaded at once by default: libuv's default thread pool is 4 threads, which sharp decodes on. */
export const DEFAULT_LOAD_CONCURRENCY = 4;

export interface LoadImageFolderOptions {
  /** Shorter side of the stored copies, in pixels (e.g. 2x the training size, capped); never enlarged. */
  readonly storeSize: number;
  /** Where the downscaled copies live across runs; created (and tagged) if needed. */
  readonly cacheDir: string;
  /** Files loaded at once (default 4, libuv's default thread-pool size, which sharp decodes on). */
  readonly concurrency?: number;
  /** Called with (0, total) before the first file, then after each file. Must not throw. */
  readonly onProgress?: (done: number, total: number) => void;
  /** The folder scan's progress (throttled), or one call with reused: true when the folder check's scan was reused. */
  readonly onScanProgress?: (progress: ScanOnceProgress) => void;
  /** Called when the cache cannot be used (read-only disk, full disk); the load goes on without it. */
  readonly onWarning?: (message: string) => void;
  /** Decompression-bomb limit, width x height of the source (default 100 megapixels). */
  readonly maxPixels?: number;
  /** Images whose shorter side is below this are skipped as too small (default 8 px). */
  readonly minSide?: number;
  /**
   * How image files are read (decode.ts): 'sync' (default) in line, as the trainer processes that
   * load folders serve no UI on their event loop; 'async' through the thread pool with a time limit.
   */
  readonly fileReads?: 'async' | 'sync';
}

export interface LoadedImage {
  readonly relativePath: string;
  /** Top-level subfolder name when the folder is organised in class subfolders, else null. */
  readonly className: string | null;
  readonly image: RgbImage;
}

export interface SkippedImage {
  /** Absolute path. */
  readonly path: string;
  /** Relative to the folder, "/"-separated. */
  readonly relativePath: string;
  readonly reason: string;
}

export interface LoadImageFolderStats {
  /** Files with a supported extension (each one ends up decoded, from the cache, or skipped). */
  readonly found: number;
  readonly decoded: number;
  readonly fromCache: number;
  /** All skipped entries: unsupported types, loops and unreadable entries included. */
  readonly skipped: number;
  readonly ms: number;
}

export interface LoadImageFolderResult {
  readonly items: LoadedImage[];
  /** Sorted by relative path. */
  readonly skipped: SkippedImage[];
  /** Classes with at least one usable image, sorted; empty when the folder has no class subfolders. */
  readonly classes: string[];
  readonly stats: LoadImageFolderStats;
}

export async function loadImageFolder(folder: string, options: LoadImageFolderOptions): Promise<LoadImageFolderResult> {
  const started = performance.now();
  const prepared = await prepareFolderLoad(folder, options);
  const images = new Array<RgbImage | undefined>(prepared.scan.images.length);
  const pooled = await loadEntries(prepared, options, (index, image) => { images[index] = image; });
  const items: LoadedImage[] = [];
  prepared.scan.images.forEach((entry, index) => {
    const image = images[index];
    if (image) items.push({ relativePath: entry.relativePath, className: entry.className, image });
  });
  const { skipped, classes } = summariseLoad(prepared, items, pooled.failures);
  return { items, skipped, classes, stats: { found: prepared.scan.images.length, decoded: pooled.decoded, fromCache: pooled.fromCache, skipped: skipped.length, ms: performance.now() - started } };
}

/** A folder scanned and the cache made ready: what every load starts from. */
export interface PreparedFolderLoad {
  readonly root: string;
  readonly scan: ScanResult;
  /** Cache key of every scanned candidate, in scan order. */
  readonly keys: readonly string[];
  readonly cacheUsable: boolean;
  readonly decodeOptions: DecodeOptions;
}

export async function prepareFolderLoad(folder: string, options: LoadImageFolderOptions): Promise<PreparedFolderLoad> {
  const decodeOptions = { storeSize: options.storeSize, maxPixels: options.maxPixels, minSide: options.minSide };
  validateDecodeOptions(decodeOptions);
  const concurrency = options.concurrency ?? DEFAULT_LOAD_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const root = resolve(folder);
  let cacheUsable = true;
  try {
    await prepareCacheDirectory(options.cacheDir);
  } catch (error) {
    cacheUsable = false;
    options.onWarning?.(`image cache ${options.cacheDir} unusable, decoding without it: ${error instanceof Error ? error.message : String(error)}`);
  }
  // The folder check's scan when it still holds (one scan per run, issue 14), else a fresh one.
  const scan = await scanImageFolderOnce(root, { excludeDirectories: [options.cacheDir], manifestDirectory: options.cacheDir, syscalls: 'batched-sync', ...(options.onScanProgress ? { onProgress: options.onScanProgress } : {}) });
  const pipeline = decodePipelineId(decodeOptions);
  const keys = scan.images.map((entry) => cacheKey({ path: entry.path, size: entry.size, mtimeMs: entry.mtimeMs, storeSize: options.storeSize, pipeline }));
  return { root, scan, keys, cacheUsable, decodeOptions };
}

export interface PooledLoad {
  readonly decoded: number;
  readonly fromCache: number;
  /** By scan index; undefined where the image loaded. */
  readonly failures: readonly (SkippedImage | undefined)[];
}

/** Where loadEntries looks before decoding an entry, and where a fresh decode is kept. */
export interface DecodedImageCache {
  /** Entry `index`'s image (cache key `key`) without decoding, or null. */
  find(index: number, key: string): Promise<RgbImage | null>;
  /** Keeps a fresh decode for later loads; a failure costs the next load speed, not this one. */
  keep?(key: string, image: RgbImage): Promise<void>;
}

/** The per-image cache (cache.ts): one file per image, read before and written after each decode. */
export function perImageCache(cacheDir: string): DecodedImageCache {
  return {
    find: (_index, key) => readCacheEntry(cacheDir, key),
    keep: (key, image) => writeCacheEntry(cacheDir, key, image),
  };
}

/**
 * Loads every candidate from `cache` or by decoding, at most `concurrency` at once, handing each
 * image to `sink` as it arrives (in completion order, with its scan index), so the caller decides
 * whether images stay in memory or go to a store on disk. `cache` defaults to the per-image cache
 * where it is usable; null decodes everything.
 */
export async function loadEntries(
  prepared: PreparedFolderLoad,
  options: LoadImageFolderOptions,
  sink: (index: number, image: RgbImage) => Promise<void> | void,
  cache: DecodedImageCache | null = prepared.cacheUsable ? perImageCache(options.cacheDir) : null,
): Promise<PooledLoad> {
  const { scan, keys, decodeOptions } = prepared;
  const total = scan.images.length;
  const failures = new Array<SkippedImage | undefined>(total);
  let decoded = 0;
  let fromCache = 0;
  let done = 0;
  let next = 0;
  let cacheWriteWarned = false;
  options.onProgress?.(0, total);

  const loadOne = async (index: number): Promise<void> => {
    const entry = scan.images[index]!;
    const key = keys[index]!;
    let image = cache ? await cache.find(index, key) : null;
    if (image !== null) {
      fromCache++;
    } else {
      try {
        image = (await decodeImageFile(entry.path, decodeOptions, options.fileReads ?? 'sync')).image;
      } catch (error) {
        const reason = error instanceof ImageDecodeError ? error.reason : `decode failed: ${error instanceof Error ? error.message : String(error)}`;
        failures[index] = { path: entry.path, relativePath: entry.relativePath, reason };
        return;
      }
      decoded++;
      if (cache?.keep) {
        try {
          await cache.keep(key, image);
        } catch (error) {
          if (!cacheWriteWarned) options.onWarning?.(`image cache ${options.cacheDir} not written: ${error instanceof Error ? error.message : String(error)}`);
          cacheWriteWarned = true;
        }
      }
    }
    await sink(index, image);
  };

  // A fixed pool of workers pulling the next index: at most `concurrency` files in flight.
  const worker = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      await loadOne(index);
      done++;
      options.onProgress?.(done, total);
    }
  };
  const concurrency = options.concurrency ?? DEFAULT_LOAD_CONCURRENCY;
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(total, 1)) }, worker));
  return { decoded, fromCache, failures };
}

/** The skipped list (sorted) and the classes of the usable images; throws when nothing is usable. */
export function summariseLoad(prepared: PreparedFolderLoad, usable: readonly { className: string | null }[], failures: readonly (SkippedImage | undefined)[]): { skipped: SkippedImage[]; classes: string[] } {
  const skipped: SkippedImage[] = [...prepared.scan.skipped, ...failures.filter((failure): failure is SkippedImage => failure !== undefined)];
  skipped.sort((a, b) => compareRelativePaths(a.relativePath, b.relativePath));
  if (usable.length === 0) {
    const examples = skipped.slice(0, 3).map((s) => `${s.relativePath}: ${s.reason}`).join('; ');
    throw new Error(
      `No usable image in ${prepared.root}: ${prepared.scan.images.length} image file(s) found, ${skipped.length} skipped` + (examples === '' ? '' : ` (${examples}${skipped.length > 3 ? '; ...' : ''})`),
    );
  }
  // Scan labelled the folder only if every candidate lives in a subfolder; a class whose images all
  // failed to decode is not reported.
  const classes = [...new Set(usable.flatMap((item) => (item.className === null ? [] : [item.className])))].sort(compareNames);
  return { skipped, classes };
}
