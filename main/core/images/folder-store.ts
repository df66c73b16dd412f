/**
 * The trainer's load of a folder (issue 14): like loadImageFolder, but the decoded images go to
 * a store on disk (image-store.ts) as they arrive instead of staying in memory, and training reads
 * them per batch. The store is named by the cache keys of every candidate (path, size, mtime,
 * store size, decode pipeline), so an unchanged folder opens its store without reading a single
 * image (the cached load is a scan plus one file open); any change to the folder gives a new
 * store, which takes every unchanged image from the folder's previous store (each record carries
 * its cache key) and decodes only new or edited files; then the previous store is deleted. The
 * store is the decoded-image cache: no file per image is written while it is built (those writes
 * were about 0.23 ms of CPU an image, and a file each, of a 100k first load). Files that failed
 * are decoded again on every load (a permission fixed since is not sticky), and a store is
 * rebuilt when one of them now loads. Where the cache cannot be written (read-only disk), images
 * stay in memory as before. */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { RgbImage } from '../../ml/augment.js';
import { writeFileAtomic } from '../atomic-file.js';
import { MemoryImageSource, type ImageSource } from '../../ml/image-source.js';
import { decodeImageFile, decodePipelineId, ImageDecodeError, supersededDecodePipelineIds } from './decode.js';
import { ImageStore, ImageStoreCorruptError, ImageStoreWriter } from './image-store.js';
import { loadEntries, prepareFolderLoad, summariseLoad, type DecodedImageCache, type LoadImageFolderOptions, type LoadImageFolderStats, type PreparedFolderLoad, type SkippedImage } from './load.js';

const STORE_KEY_VERSION = 1;

export interface StoredEntry {
  readonly relativePath: string;
  /** Top-level subfolder name when the folder is organised in class subfolders, else null. */
  readonly className: string | null;
}

export interface ClosableImageSource extends ImageSource {
  close(): Promise<void>;
}

export interface ImageFolderStore {
  /** The usable images, in scan order; position i is `source.read([i])`. */
  readonly entries: readonly StoredEntry[];
  readonly source: ClosableImageSource;
  readonly skipped: SkippedImage[];
  readonly classes: string[];
  /** `store`: path of the store on disk, null when the images are held in memory. */
  readonly stats: LoadImageFolderStats & { readonly store: string | null; readonly imagesPerSecond: number };
}

class MemorySource extends MemoryImageSource implements ClosableImageSource {
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export async function openImageFolderStore(folder: string, options: LoadImageFolderOptions): Promise<ImageFolderStore> {
  const started = performance.now();
  const prepared = await prepareFolderLoad(folder, options);
  const total = prepared.scan.images.length;
  const finish = (source: ClosableImageSource, usable: readonly number[], failures: readonly (SkippedImage | undefined)[], decoded: number, fromCache: number, store: string | null): ImageFolderStore => {
    const entries = usable.map((index) => ({ relativePath: prepared.scan.images[index]!.relativePath, className: prepared.scan.images[index]!.className }));
    const { skipped, classes } = summariseLoad(prepared, entries, failures);
    const ms = performance.now() - started;
    return { entries, source, skipped, classes, stats: { found: total, decoded, fromCache, skipped: skipped.length, ms, store, imagesPerSecond: total / Math.max(ms / 1000, 1e-6) } };
  };

  if (!prepared.cacheUsable) return inMemory(prepared, options, finish);
  const storesDir = join(options.cacheDir, 'stores');
  const contentKey = createHash('sha256').update(JSON.stringify([STORE_KEY_VERSION, options.storeSize, decodePipelineId(prepared.decodeOptions), prepared.keys])).digest('hex').slice(0, 40);
  const path = join(storesDir, `${contentKey}.pack`);

  const existing = await openExisting(path, contentKey, total, options);
  let previous: ImageStore | null = null;
  if (existing) {
    const failures = await retryFailures(prepared, existing);
    if (failures !== null) {
      options.onProgress?.(0, total);
      options.onProgress?.(total, total);
      return finish(existing, Array.from(existing.entries), failures, 0, existing.count, path);
    }
    previous = existing; // a file that failed before loads now: rebuilt, with the rest taken from it
  }

  let writer: ImageStoreWriter;
  try {
    await mkdir(storesDir, { recursive: true });
    await removeAbandonedStores(storesDir);
    writer = await ImageStoreWriter.create(path, total);
  } catch (error) {
    await previous?.close();
    options.onWarning?.(`decoded-image store in ${storesDir} not writable, keeping images in memory: ${error instanceof Error ? error.message : String(error)}`);
    return inMemory(prepared, options, finish);
  }
  const pointer = join(storesDir, `${folderKeyOf(prepared, options.storeSize)}.latest`);
  previous ??= await openPreviousStore(storesDir, pointer);
  let pooled;
  try {
    const reuse = previous ? await reuseFrom(previous) : null;
    pooled = await loadEntries(prepared, options, (index, image) => writer.write(index, image, prepared.keys[index]), reuse);
    pooled.failures.forEach((failure, index) => { if (failure) writer.fail(index, failure.reason); });
    await writer.finish(contentKey);
  } catch (error) {
    await writer.abort();
    throw error;
  } finally {
    await previous?.close();
  }
  await replacePreviousStore(storesDir, pointer, `${contentKey}.pack`);
  await removeSupersededStores(storesDir, prepared, options.storeSize);
  const store = await ImageStore.open(path);
  return finish(store, Array.from(store.entries), pooled.failures, pooled.decoded, pooled.fromCache, path);
}

/** The store the folder's pointer names, when it opens (a damaged one is just not used: the new build replaces it). */
async function openPreviousStore(storesDir: string, pointer: string): Promise<ImageStore | null> {
  const name = await readPointer(pointer);
  if (!STORE_NAME.test(name)) return null;
  return ImageStore.open(join(storesDir, name)).catch(() => null);
}

/** A previous store as the cache of a build: the images whose cache keys it holds, read from it (CRC-checked). */
async function reuseFrom(store: ImageStore): Promise<DecodedImageCache | null> {
  let keys: Buffer;
  try {
    keys = await store.readKeys();
  } catch {
    return null;
  }
  const positions = new Map<string, number>();
  for (let position = 0; position < store.count; position++) {
    const at = store.entries[position]! * 20;
    const key = keys.toString('hex', at, at + 20);
    if (key !== NO_KEY) positions.set(key, position);
  }
  return {
    find: async (_index, key) => {
      const position = positions.get(key);
      if (position === undefined) return null;
      return (await store.read([position]).catch(() => null))?.[0] ?? null;
    },
  };
}

async function inMemory(
  prepared: PreparedFolderLoad,
  options: LoadImageFolderOptions,
  finish: (source: ClosableImageSource, usable: readonly number[], failures: readonly (SkippedImage | undefined)[], decoded: number, fromCache: number, store: null) => ImageFolderStore,
): Promise<ImageFolderStore> {
  const images = new Array<RgbImage | undefined>(prepared.scan.images.length);
  const pooled = await loadEntries(prepared, options, (index, image) => { images[index] = image; });
  const usable = images.flatMap((image, index) => (image ? [index] : []));
  return finish(new MemorySource(usable.map((index) => images[index]!)), usable, pooled.failures, pooled.decoded, pooled.fromCache, null);
}

/** The store for exactly these candidates, or null (absent, or corrupt: then deleted, with a warning). */
async function openExisting(path: string, contentKey: string, total: number, options: LoadImageFolderOptions): Promise<ImageStore | null> {
  let store: ImageStore;
  try {
    store = await ImageStore.open(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (!(error instanceof ImageStoreCorruptError && error.outdated)) {
      options.onWarning?.(error instanceof ImageStoreCorruptError ? error.message : `decoded-image store ${path} unreadable, rebuilding it: ${error instanceof Error ? error.message : String(error)}`);
    }
    await unlink(path).catch(() => undefined);
    return null;
  }
  if (store.contentKey === contentKey && store.count + store.failures.size === total) return store;
  await store.close();
  return null;
}

/** Decodes the store's failed entries again: their (current) reasons, or null when one of them now loads. */
async function retryFailures(prepared: PreparedFolderLoad, store: ImageStore): Promise<(SkippedImage | undefined)[] | null> {
  const failures = new Array<SkippedImage | undefined>(prepared.scan.images.length);
  for (const entry of store.failures.keys()) {
    const scanned = prepared.scan.images[entry];
    if (!scanned) return null;
    try {
      await decodeImageFile(scanned.path, prepared.decodeOptions);
      return null;
    } catch (error) {
      const reason = error instanceof ImageDecodeError ? error.reason : `decode failed: ${error instanceof Error ? error.message : String(error)}`;
      failures[entry] = { path: scanned.path, relativePath: scanned.relativePath, reason };
    }
  }
  return failures;
}

const STORE_NAME = /^[0-9a-f]{40}\.pack$/;

/** The store file name a `<folderKey>.latest` pointer holds, or '' when there is none (callers check it against STORE_NAME). */
async function readPointer(pointer: string): Promise<string> {
  return (await readFile(pointer, 'utf8').catch(() => '')).trim();
}
const NO_KEY = '0'.repeat(40);

/** Names the folder's newest store (`<folderKey>.latest`), per folder root, store size and decode pipeline. */
function folderKeyOf(prepared: PreparedFolderLoad, storeSize: number): string {
  return folderPointerKey(prepared.root, storeSize, decodePipelineId(prepared.decodeOptions));
}

/** The pointer's name for a folder root, store size and decode pipeline id (exported for the store specs). */
export function folderPointerKey(root: string, storeSize: number, pipelineId: string): string {
  return createHash('sha256').update(JSON.stringify([root, storeSize, pipelineId])).digest('hex').slice(0, 40);
}

/**
 * The folder's stores from earlier decode pipelines, with their pointers: a new pipeline version
 * rebuilds every folder once (their pixels differ, so their cache keys match nothing), and until
 * issue 14 the old store, as large as the folder's pixels (1.2 GB at 100k images of 64 px), stayed.
 */
async function removeSupersededStores(storesDir: string, prepared: PreparedFolderLoad, storeSize: number): Promise<void> {
  for (const id of supersededDecodePipelineIds(prepared.decodeOptions)) {
    const pointer = join(storesDir, `${folderPointerKey(prepared.root, storeSize, id)}.latest`);
    const name = await readPointer(pointer);
    if (name === '') continue;
    if (STORE_NAME.test(name)) await unlink(join(storesDir, name)).catch(() => undefined);
    await unlink(pointer).catch(() => undefined);
  }
}

/**
 * One store per folder and store size is kept: `<folderKey>.latest` names the newest, and the one
 * it named before is deleted (a store is the size of the folder's pixels). A trainer still reading
 * the old one keeps its open descriptor (POSIX); where deleting fails (Windows), it stays.
 */
async function replacePreviousStore(storesDir: string, pointer: string, fileName: string): Promise<void> {
  const previous = await readPointer(pointer);
  await writeFileAtomic(pointer, `${fileName}\n`).catch(() => undefined);
  if (previous !== '' && previous !== fileName && STORE_NAME.test(previous)) await unlink(join(storesDir, previous)).catch(() => undefined);
}

/** Temporary stores of builds whose process is gone (killed mid-load): as large as a store, so removed. */
async function removeAbandonedStores(storesDir: string): Promise<void> {
  for (const name of await readdir(storesDir)) {
    const pid = /\.pack\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || processAlive(Number(pid))) continue;
    await unlink(join(storesDir, name)).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
