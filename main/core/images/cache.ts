/**
 * On-disk cache of the decoded, downscaled RGB copies, one file per image, for the in-memory
 * loadImageFolder. Training does not use it (issue 14): the folder's decoded-image store
 * (image-store.ts, folder-store.ts) is its cache, and its builds write no file per image.
 *
 * Key: sha256 of (format version, absolute path, file size, mtimeMs, storeSize, decode-pipeline
 * descriptor). Editing a file changes its mtime (and usually its size), so it is decoded anew;
 * a different storeSize or decode policy gets its own entries. Stale entries are not pruned.
 *
 * Entry file `<cacheDir>/<key>.rgb`, little-endian:
 *   bytes 0-7   magic "MOCORGB1"
 *   bytes 8-11  width (u32)
 *   bytes 12-15 height (u32)
 *   bytes 16-23 first 8 bytes of sha256(pixels): catches corruption that keeps the length
 *   bytes 24-   width * height * 3 bytes, RGB, HWC
 * Entries are written to a temporary file and renamed into place, so a reader never sees a half
 * entry; without an fsync (issue 14: two fsyncs per image, file and directory, were a large part
 * of a 100k-image first load), so a power loss may leave an entry empty or torn, which reads as a
 * miss (length, magic and digest are checked) and is rebuilt by the caller: it is a cache.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RgbImage } from '../../ml/augment.js';
import { CACHEDIR_TAG } from './scan.js';

const MAGIC = Buffer.from('MOCORGB1', 'ascii');
const HEADER_BYTES = 24;
const CACHE_FORMAT_VERSION = 1;
/** Refuse absurd headers before allocating anything (decode never stores more than this). */
const MAX_SIDE = 65_535;

export interface CacheKeyInput {
  /** Path of the original; made absolute here. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly storeSize: number;
  /** Anything else the decoded pixels depend on (decode policy version, limits). */
  readonly pipeline: string;
}

export function cacheKey(input: CacheKeyInput): string {
  const material = JSON.stringify([CACHE_FORMAT_VERSION, resolve(input.path), input.size, input.mtimeMs, input.storeSize, input.pipeline]);
  return createHash('sha256').update(material).digest('hex').slice(0, 40);
}

export function cacheEntryPath(cacheDir: string, key: string): string {
  return join(cacheDir, `${key}.rgb`);
}

/**
 * Creates the cache directory and tags it (CACHEDIR.TAG), so backup tools and our own folder scan
 * leave it alone even when the user puts it inside the image folder.
 */
export async function prepareCacheDirectory(cacheDir: string): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const tag = join(cacheDir, CACHEDIR_TAG);
  try {
    await writeFile(tag, 'Signature: 8a477f597d28d172789f06886806bc55\n# MoCo Studio image cache: downscaled copies, safe to delete.\n', { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

export function encodeCacheEntry(image: RgbImage): Buffer {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new RangeError(`cache entry: bad dimensions ${width}x${height}`);
  }
  if (data.length !== width * height * 3) throw new RangeError(`cache entry: ${data.length} bytes for ${width}x${height}x3`);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(width, 8);
  header.writeUInt32LE(height, 12);
  createHash('sha256').update(data).digest().copy(header, 16, 0, 8);
  return Buffer.concat([header, data]);
}

/** Parses an entry; null for anything that is not a complete, intact entry. */
export function decodeCacheEntry(bytes: Uint8Array): RgbImage | null {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < HEADER_BYTES || !buffer.subarray(0, 8).equals(MAGIC)) return null;
  const width = buffer.readUInt32LE(8);
  const height = buffer.readUInt32LE(12);
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) return null;
  if (buffer.length !== HEADER_BYTES + width * height * 3) return null;
  const data = buffer.subarray(HEADER_BYTES);
  const digest = createHash('sha256').update(data).digest();
  if (!digest.subarray(0, 8).equals(buffer.subarray(16, 24))) return null;
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** The cached image, or null on a miss (absent, unreadable, short or corrupt entry). */
export async function readCacheEntry(cacheDir: string, key: string): Promise<RgbImage | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(cacheEntryPath(cacheDir, key));
  } catch {
    return null;
  }
  return decodeCacheEntry(bytes);
}

/** Writes (or replaces) an entry, renamed into place. The cache directory must exist (prepareCacheDirectory). */
export async function writeCacheEntry(cacheDir: string, key: string, image: RgbImage): Promise<void> {
  const path = cacheEntryPath(cacheDir, key);
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, encodeCacheEntry(image), { flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
