/**
 * Decodes one image file with sharp into the 8-bit RGB, HWC layout the trainer consumes, downscaled
 * for storage. Every failure is an ImageDecodeError naming the file and a human reason; the loader
 * turns those into "skipped" entries, so one bad file never stops a run.
 *
 * Policy (to be repeated in the user docs):
 * - Size: the stored image's SHORTER side is `storeSize`, aspect ratio kept, never enlarged. The
 *   augmentation does its own RandomResizedCrop (and upsampling) from the stored image, so a
 *   square crop here would throw away content and enlarging would only cost memory.
 * - Tiny images: a shorter side below `minSide` (default 8 px) is skipped with a reason ("too
 *   small"): a 1x1 or 4x4 image carries no structure for the crops to learn from. Images between
 *   minSide and storeSize are stored at their own size.
 * - Orientation: EXIF orientation is applied, so width/height are as a viewer shows them.
 * - Colour: grayscale, CMYK and 16-bit inputs become 8-bit sRGB with 3 channels (embedded ICC
 *   profiles are honoured by sharp's conversion).
 * - Alpha: flattened onto WHITE (FLATTEN_BACKGROUND), the background most image viewers and
 *   documents show transparent areas on; black would turn transparent logos into dark blobs.
 * - Animated GIF/WebP: the first frame only.
 * - Decompression bombs: the header's width x height is checked against `maxPixels` (default 100
 *   megapixels) before any pixel is decoded, and sharp's own limitInputPixels backs it up.
 * - Truncated or corrupt data: refused (sharp failOn 'truncated'), reason "truncated or corrupt:
 *   <sharp's message>". A half JPEG would otherwise decode with a grey lower half that the
 *   encoder would learn as content. Benign libjpeg warnings (extraneous bytes) are tolerated.
 */
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import type { RgbImage } from '../../ml/augment.js';
import { FileReadError, MAX_IMAGE_FILE_BYTES, openRegularFile, readHead, readOpenedFile, readRegularFileSync } from '../safe-read.js';
import { headDimensions } from './header-dimensions.js';
import { downscaleRgb } from './resize-rgb.js';
import { describeFsError } from './scan.js';
import { hasImageSignature, imageFormatOf, SIGNATURE_BYTES } from './signatures.js';

export const DEFAULT_MAX_PIXELS = 100_000_000;
export const DEFAULT_MIN_SIDE = 8;
/** Files up to this size are read whole before their signature is checked; larger ones head first. */
const WHOLE_READ_BYTES = 1 << 20;
/** Transparent pixels are composited onto this colour (white). */
export const FLATTEN_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

export interface DecodeOptions {
  /** Target length of the shorter side of the stored image, in pixels (images are never enlarged). */
  readonly storeSize: number;
  /** Largest accepted width x height of the source, per frame. */
  readonly maxPixels?: number;
  /** Smallest accepted shorter side of the source (after orientation), in pixels. */
  readonly minSide?: number;
  /** Largest file read (default MAX_IMAGE_FILE_BYTES, 512 MiB): it is read into memory whole. */
  readonly maxFileBytes?: number;
}

export interface DecodedImage {
  readonly image: RgbImage;
  /** The input format by its signature (jpeg, png, gif, webp, tiff, heif). */
  readonly format: string;
}

/** A file that cannot be used, with the reason; `message` names the file. */
export class ImageDecodeError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'ImageDecodeError';
  }
}

export function validateDecodeOptions(options: DecodeOptions): void {
  const { storeSize, maxPixels = DEFAULT_MAX_PIXELS, minSide = DEFAULT_MIN_SIDE } = options;
  if (!Number.isInteger(storeSize) || storeSize < 1) throw new RangeError(`storeSize must be a positive integer, got ${storeSize}`);
  if (!Number.isInteger(maxPixels) || maxPixels < 1) throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  if (!Number.isInteger(minSide) || minSide < 1) throw new RangeError(`minSide must be a positive integer, got ${minSide}`);
}

/** Bump when the decode output changes for the same input (background, colour handling, resize). */
// 3: images under twice storeSize are downscaled by resize-rgb.ts, not libvips (issue 14): the same
// Lanczos-3, within one level. (2 was that path with a tent filter, never released.)
const DECODE_PIPELINE_VERSION = 3;

/** Identifies everything besides the file and storeSize that the stored pixels depend on (cache keys). */
export function decodePipelineId(options: DecodeOptions): string {
  return pipelineIdOf(DECODE_PIPELINE_VERSION, options);
}

/**
 * The ids the same options had under every earlier pipeline version (the id's form has not changed
 * since version 1): folder-store.ts deletes the stores those built, which nothing can reuse.
 */
export function supersededDecodePipelineIds(options: DecodeOptions): string[] {
  return Array.from({ length: DECODE_PIPELINE_VERSION - 1 }, (_, index) => pipelineIdOf(index + 1, options));
}

function pipelineIdOf(version: number, options: DecodeOptions): string {
  const { maxPixels = DEFAULT_MAX_PIXELS, minSide = DEFAULT_MIN_SIDE } = options;
  return `decode-v${version};bg=ffffff;min=${minSide};max=${maxPixels}`;
}

/** decode's refusal of a file without an image signature; the folder check (header-check.ts) says the same. */
export const UNRECOGNISED_IMAGE = 'not a supported image (unrecognised contents): its first bytes are not those of a JPEG, PNG, GIF, WebP, TIFF or AVIF file';

/**
 * Reads and decodes a file. File-system errors (EACCES, ...) become ImageDecodeErrors too.
 * `reads: 'sync'` reads it with synchronous calls (safe-read's readRegularFileSync: the same
 * refusals, no time limit), for the trainer's load, whose event loop serves no UI.
 */
export async function decodeImageFile(path: string, options: DecodeOptions, reads: 'async' | 'sync' = 'async'): Promise<DecodedImage> {
  validateDecodeOptions(options);
  let buffer: Buffer;
  if (reads === 'sync') {
    try {
      buffer = readRegularFileSync(path, options.maxFileBytes ?? MAX_IMAGE_FILE_BYTES, SIGNATURE_BYTES, WHOLE_READ_BYTES, (head, size) => {
        if (size === 0) throw new ImageDecodeError(path, 'empty file (0 bytes)');
        if (!hasImageSignature(head)) throw new ImageDecodeError(path, UNRECOGNISED_IMAGE);
      });
    } catch (error) {
      if (error instanceof ImageDecodeError) throw error;
      throw new ImageDecodeError(path, error instanceof FileReadError ? error.reason : describeFsError(error));
    }
    return decodeImageBuffer(buffer, options, path);
  }
  try {
    // Read into memory rather than hand sharp the path: the error is a plain errno, and libvips's
    // operation cache cannot serve a stale decode of a file that changed under the same name.
    // Opened without blocking and fstat'ed (a FIFO swapped in hangs a plain readFile for ever), the
    // size limit checked and the signature read before the rest (a 1.5 GB junk ".png" was read
    // whole: issue 13).
    // A file of at most WHOLE_READ_BYTES is read in one go and its signature checked in memory
    // (one read fewer per file: issue 14, a 100k first load of small JPEGs).
    const file = await openRegularFile(path, options.maxFileBytes ?? MAX_IMAGE_FILE_BYTES);
    try {
      if (file.stats.size === 0) throw new ImageDecodeError(path, 'empty file (0 bytes)');
      const small = file.stats.size <= WHOLE_READ_BYTES;
      const head = small ? await readOpenedFile(file, path) : await readHead(file, SIGNATURE_BYTES, path);
      if (!hasImageSignature(head)) {
        throw new ImageDecodeError(path, UNRECOGNISED_IMAGE);
      }
      buffer = small ? head : await readOpenedFile(file, path);
    } finally {
      await file.handle.close().catch(() => undefined);
    }
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError(path, error instanceof FileReadError ? error.reason : describeFsError(error));
  }
  return decodeImageBuffer(buffer, options, path);
}

/** Decodes an encoded image held in memory; `label` names it in errors. */
export async function decodeImageBuffer(buffer: Uint8Array, options: DecodeOptions, label = '<buffer>'): Promise<DecodedImage> {
  validateDecodeOptions(options);
  const { storeSize, maxPixels = DEFAULT_MAX_PIXELS, minSide = DEFAULT_MIN_SIDE } = options;
  if (buffer.length === 0) throw new ImageDecodeError(label, 'empty file (0 bytes)');

  // One sharp call per file (issue 14: two calls cost 1.7 ms per 96-px JPEG, mostly per-call
  // overhead). The bomb guard is sharp's limitInputPixels, checked on the header before any pixel
  // is decoded; "too small" is read off the output: it is never enlarged, so when minSide <=
  // storeSize its shorter side is below minSide exactly when the source's is. JPEG and WebP
  // shrink on load inside the same call. Anything refused here goes through the two-call path
  // below, which names the precise reason (header size, "too small: WxH").
  if (minSide <= storeSize) {
    const image = await shared(() => decodePixels(buffer, storeSize, maxPixels)).catch(() => null);
    if (image !== null && Math.min(image.width, image.height) >= minSide) return { image, format: imageFormatOf(buffer) };
  }

  // Header first: cheap, and lets a 100,000 x 100,000 claim be refused before any allocation.
  let metadata: Metadata;
  try {
    metadata = await withOwnErrorMessage(() => sharp(buffer, { limitInputPixels: false, failOn: 'truncated' }).metadata());
  } catch (error) {
    throw new ImageDecodeError(label, describeSharpError(error));
  }
  const width = metadata.width;
  // Multi-page inputs report the frame height as pageHeight; only one frame is decoded.
  const frameHeight = metadata.pageHeight ?? metadata.height;
  const oriented = (metadata.orientation ?? 1) >= 5 ? { width: frameHeight, height: width } : { width, height: frameHeight };
  const problem = imageSizeProblem(oriented.width, oriented.height, minSide, maxPixels);
  if (problem !== null) throw new ImageDecodeError(label, problem);

  let image: RgbImage;
  try {
    image = await withOwnErrorMessage(() => decodePixels(buffer, storeSize, maxPixels));
  } catch (error) {
    throw new ImageDecodeError(label, error instanceof UnexpectedOutputError ? error.message : describeSharpError(error));
  }
  return { image, format: metadata.format };
}

class UnexpectedOutputError extends Error {}

/**
 * Sources whose shorter side is below this many times storeSize are decoded by sharp at full size
 * and downscaled in JavaScript (resize-rgb.ts): sharp's resize step cost more than the decode on
 * small images (issue 14). From 2x up, sharp keeps the resize, because JPEG and WebP then shrink
 * on load (a 3000x2000 photo is decoded at an eighth of its size), which a full decode would lose.
 */
const SHRINK_ON_LOAD_FACTOR = 2;

/** The stored pixels: 8-bit sRGB, HWC, shorter side storeSize (never enlarged), first frame, oriented, alpha on white. */
async function decodePixels(buffer: Uint8Array, storeSize: number, maxPixels: number): Promise<RgbImage> {
  const header = headDimensions(buffer, buffer.length);
  const small = 'dimensions' in header && Math.min(header.dimensions.width, header.dimensions.height) < SHRINK_ON_LOAD_FACTOR * storeSize;
  let pipeline = sharp(buffer, { failOn: 'truncated', limitInputPixels: maxPixels, pages: 1, page: 0, autoOrient: true });
  // 'outside' with a square box = shorter side becomes storeSize, aspect kept.
  if (!small) pipeline = pipeline.resize({ width: storeSize, height: storeSize, fit: 'outside', withoutEnlargement: true });
  const { data, info }: { data: Buffer; info: OutputInfo } = await pipeline
    .flatten({ background: FLATTEN_BACKGROUND })
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new UnexpectedOutputError(`unexpected decoder output: ${info.width}x${info.height}x${info.channels}, ${data.length} bytes`);
  }
  const image = { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  if (!small) return image;
  const { width, height } = storedSize(image.width, image.height, storeSize);
  return downscaleRgb(image, width, height, Math.min(image.width, image.height) / storeSize);
}

/** The size sharp's fit 'outside' resize gives (shorter side storeSize, the longer one rounded), never enlarged. */
export function storedSize(width: number, height: number, storeSize: number): { width: number; height: number } {
  const shorter = Math.min(width, height);
  if (shorter <= storeSize) return { width, height };
  const factor = shorter / storeSize;
  return width <= height ? { width: storeSize, height: Math.round(height / factor) } : { width: Math.round(width / factor), height: storeSize };
}

/**
 * libvips keeps error messages in a process-wide buffer that concurrent operations also clear.
 * When a decode fails while others run (the loader runs a few in parallel), its message can be
 * lost ("Unknown error") or mixed with another's. Success or failure itself is reliable (it is the
 * return code). So a failed operation is run once more with no other decode of this module in
 * flight, to get its own message; failures are rare, so the pause costs little. If the retry
 * succeeds, its result is used.
 */
let inFlight = 0;
let exclusive: Promise<void> | null = null;
let idleWaiters: (() => void)[] = [];

async function shared<T>(operation: () => Promise<T>): Promise<T> {
  while (exclusive !== null) await exclusive;
  inFlight++;
  try {
    return await operation();
  } finally {
    inFlight--;
    if (inFlight === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

async function alone<T>(operation: () => Promise<T>): Promise<T> {
  while (exclusive !== null) await exclusive;
  let release = (): void => undefined;
  exclusive = new Promise<void>((resolve) => {
    release = resolve;
  });
  try {
    if (inFlight > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    return await operation();
  } finally {
    exclusive = null;
    release();
  }
}

async function withOwnErrorMessage<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await shared(operation);
  } catch {
    return alone(operation);
  }
}

/**
 * Why an image of width x height (as shown: oriented) cannot train, or null: the rules and words
 * of decode, shared with the folder check's header read (header-check.ts) so both say the same.
 */
export function imageSizeProblem(width: number, height: number, minSide = DEFAULT_MIN_SIDE, maxPixels = DEFAULT_MAX_PIXELS): string | null {
  if (width <= 0 || height <= 0) return `corrupt: header gives ${width}x${height} pixels`;
  if (width * height > maxPixels) return `too large: ${width}x${height} pixels exceeds the limit of ${formatMegapixels(maxPixels)} (decompression-bomb guard)`;
  if (Math.min(width, height) < minSide) return `too small: ${width}x${height} pixels (the shorter side must be at least ${minSide} px)`;
  return null;
}

function formatMegapixels(pixels: number): string {
  return `${Number((pixels / 1e6).toPrecision(4))} megapixels`;
}

/** Maps sharp/libvips messages onto the reasons users see; the original text is kept. */
function describeSharpError(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).trim().replace(/\s+/g, ' ');
  if (/unsupported image format/i.test(message)) return `not a supported image (unrecognised contents): ${message}`;
  if (/pixel limit/i.test(message)) return `too large: ${message} (decompression-bomb guard)`;
  return `truncated or corrupt: ${message}`;
}
