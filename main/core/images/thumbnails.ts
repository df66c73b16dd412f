/**
 * Small thumbnails for the grid (issue 14): made once from the original, cached on disk, served
 * with an ETag so a browser revalidates with a 304 instead of fetching originals (a 100k-image
 * grid requested 55k originals). The original is read as /images reads it (safe-read: regular
 * file only, non-blocking open, size limit, time limit, signature first) and decoded with the
 * same bomb guard as training (DEFAULT_MAX_PIXELS); the path was confined by the caller
 * (FolderRegistry.resolveImage).
 *
 * Key: sha256 of (version, absolute path, file size, mtimeMs, size); the ETag is that key, so an
 * edited file gets a new thumbnail and a new ETag. Entries are JPEGs renamed into place (a torn
 * one after a power loss is a bad JPEG the browser shows as broken until the file changes; they
 * are a cache, safe to delete).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { THUMBNAIL_SIZES, type ThumbnailSize } from '../../../shared/thumbnails.js';
import { FileReadError, MAX_IMAGE_FILE_BYTES, openRegularFile, readHead, readOpenedFile } from '../safe-read.js';
import { DEFAULT_MAX_PIXELS, FLATTEN_BACKGROUND } from './decode.js';
import { hasImageSignature, SIGNATURE_BYTES } from './signatures.js';

const THUMBNAIL_VERSION = 1;

export interface Thumbnail {
  /** Quoted strong ETag. */
  readonly etag: string;
  /** The cached JPEG, or null when the cache could not be written: then `bytes` holds it. */
  readonly path: string | null;
  readonly bytes: Buffer | null;
}

/** A thumbnail that cannot be made; `status` is what the server answers. */
export class ThumbnailError extends Error {
  constructor(readonly status: 404 | 415, message: string) {
    super(message);
    this.name = 'ThumbnailError';
  }
}

/** `s` of the query as one of THUMBNAIL_SIZES (the next one up; the default when absent or bad). */
export function parseThumbnailSize(value: string | null): ThumbnailSize {
  const asked = Number(value);
  if (value === null || !Number.isFinite(asked)) return 128;
  return THUMBNAIL_SIZES.find((size) => size >= asked) ?? THUMBNAIL_SIZES[THUMBNAIL_SIZES.length - 1]!;
}

/** The key (and ETag) of a thumbnail, without making it: cheap enough for every If-None-Match. */
export async function thumbnailKey(originalPath: string, size: ThumbnailSize): Promise<string> {
  const info = await stat(originalPath);
  return createHash('sha256').update(JSON.stringify([THUMBNAIL_VERSION, originalPath, info.size, info.mtimeMs, size])).digest('hex').slice(0, 32);
}

/** The cached thumbnail of a confined original, made now if it is not cached yet. */
export async function thumbnailOf(originalPath: string, size: ThumbnailSize, thumbnailDirectory: string): Promise<Thumbnail> {
  let key: string;
  try {
    key = await thumbnailKey(originalPath, size);
  } catch {
    throw new ThumbnailError(404, 'Not found');
  }
  const path = join(thumbnailDirectory, `${key}.jpg`);
  const etag = `"${key}"`;
  if (await stat(path).then((s) => s.isFile() && s.size > 0, () => false)) return { etag, path, bytes: null };

  let buffer: Buffer;
  try {
    const file = await openRegularFile(originalPath, MAX_IMAGE_FILE_BYTES);
    try {
      if (file.stats.size === 0 || !hasImageSignature(await readHead(file, SIGNATURE_BYTES, originalPath))) throw new ThumbnailError(415, 'Not a supported image');
      buffer = await readOpenedFile(file, originalPath);
    } finally {
      await file.handle.close().catch(() => undefined);
    }
  } catch (error) {
    if (error instanceof ThumbnailError) throw error;
    throw new ThumbnailError(404, error instanceof FileReadError ? `Not served: ${error.reason}` : 'Not found');
  }
  let jpeg: Buffer;
  try {
    jpeg = await sharp(buffer, { failOn: 'truncated', limitInputPixels: DEFAULT_MAX_PIXELS, pages: 1, page: 0, autoOrient: true })
      .resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace('srgb')
      .jpeg({ quality: 80 })
      .toBuffer();
  } catch (error) {
    throw new ThumbnailError(415, `Not a decodable image: ${error instanceof Error ? error.message : String(error)}`);
  }
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(thumbnailDirectory, { recursive: true });
    await writeFile(temporary, jpeg, { flag: 'wx' });
    await rename(temporary, path);
  } catch {
    // A cache that cannot be written (read-only or full disk) costs a decode next time, not this answer.
    await rm(temporary, { force: true });
    return { etag, path: null, bytes: jpeg };
  }
  return { etag, path, bytes: null };
}
