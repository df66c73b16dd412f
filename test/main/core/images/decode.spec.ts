import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeImageBuffer,
  decodeImageFile,
  decodePipelineId,
  DEFAULT_MAX_PIXELS,
  ImageDecodeError,
} from '../../../../main/core/images/decode.js';
import { animatedGif, claimedSizePng, makeTempDir, noiseRgb, pixel, pngOf, RED, solidRgb } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  await cleanup();
});

async function decodeError(promise: Promise<unknown>): Promise<ImageDecodeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ImageDecodeError);
    return error as ImageDecodeError;
  }
  throw new Error('expected the decode to fail');
}

describe('decodeImageBuffer: size policy', () => {
  it('scales the shorter side to storeSize with the aspect kept, and never enlarges', async () => {
    const cases: [number, number, number, [number, number]][] = [
      [200, 100, 50, [100, 50]],
      [60, 300, 50, [50, 250]],
      [64, 64, 32, [32, 32]],
      [30, 20, 50, [30, 20]], // smaller than storeSize: stored as is, the augmentation upsamples
    ];
    for (const [width, height, storeSize, expected] of cases) {
      const decoded = await decodeImageBuffer(await pngOf(width, height, [9, 99, 199]), { storeSize });
      expect([decoded.image.width, decoded.image.height], `${width}x${height} @ ${storeSize}`).toEqual(expected);
      expect(decoded.image.data.length).toBe(expected[0] * expected[1] * 3);
      expect(pixel(decoded.image.data, decoded.image.width, 1, 1)).toEqual([9, 99, 199]);
    }
  });

  it('skips images whose shorter side is below minSide (default 8), and can be told to keep a 1x1', async () => {
    expect((await decodeError(decodeImageBuffer(await pngOf(7, 40, RED), { storeSize: 32 }))).reason)
      .toBe('too small: 7x40 pixels (the shorter side must be at least 8 px)');
    const eight = await decodeImageBuffer(await pngOf(8, 40, RED), { storeSize: 32 });
    expect([eight.image.width, eight.image.height]).toEqual([8, 40]);
    const one = await decodeImageBuffer(await pngOf(1, 1, RED), { storeSize: 32, minSide: 1 });
    expect([one.image.width, one.image.height, ...one.image.data]).toEqual([1, 1, ...RED]);
  });
});

describe('decodeImageBuffer: formats and colour', () => {
  it('decodes WebP, TIFF and AVIF to 8-bit RGB', async () => {
    const raw = sharp(solidRgb(16, 12, [30, 160, 90]), { raw: { width: 16, height: 12, channels: 3 } });
    const inputs: [string, Buffer, number][] = [
      ['webp', await raw.clone().webp({ lossless: true }).toBuffer(), 0],
      ['tiff', await raw.clone().tiff().toBuffer(), 0],
      ['heif', await raw.clone().avif({ quality: 90 }).toBuffer(), 12],
    ];
    for (const [format, bytes, tolerance] of inputs) {
      const decoded = await decodeImageBuffer(bytes, { storeSize: 64 });
      expect(decoded.format).toBe(format);
      expect([decoded.image.width, decoded.image.height]).toEqual([16, 12]);
      const got = pixel(decoded.image.data, 16, 8, 6);
      for (let c = 0; c < 3; c++) expect(Math.abs(got[c]! - [30, 160, 90][c]!), `${format} channel ${c}`).toBeLessThanOrEqual(tolerance);
    }
  });

  it('takes the first frame of an animated GIF and an animated WebP', async () => {
    const gif = await animatedGif();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const fromGif = await decodeImageBuffer(gif, { storeSize: 64 });
    expect([fromGif.image.width, fromGif.image.height]).toEqual([16, 16]);
    expect(pixel(fromGif.image.data, 16, 8, 15)).toEqual([255, 0, 0]);

    const webp = await sharp(gif, { animated: true }).webp({ lossless: true }).toBuffer();
    expect((await sharp(webp).metadata()).pages).toBe(2);
    const fromWebp = await decodeImageBuffer(webp, { storeSize: 64 });
    expect([fromWebp.image.width, fromWebp.image.height]).toEqual([16, 16]);
    expect(pixel(fromWebp.image.data, 16, 8, 15)).toEqual([255, 0, 0]);
  });

  it('flattens grey + alpha onto white and expands grey to three equal channels', async () => {
    const width = 10;
    // Left half opaque grey 60, right half transparent; saved as a 2-channel (grey + alpha) PNG.
    const rgba = Buffer.alloc(width * 10 * 4);
    for (let i = 0; i < width * 10; i++) rgba.set(i % width < 5 ? [60, 60, 60, 255] : [60, 60, 60, 0], i * 4);
    const png = await sharp(rgba, { raw: { width, height: 10, channels: 4 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(2);
    const decoded = await decodeImageBuffer(png, { storeSize: 64 });
    expect(pixel(decoded.image.data, width, 1, 1)).toEqual([60, 60, 60]);
    expect(pixel(decoded.image.data, width, 8, 1)).toEqual([255, 255, 255]);
  });
});

describe('decodeImageBuffer: refusals', () => {
  it('refuses a 100,000 x 100,000 header quickly, before decoding anything', async () => {
    const started = performance.now();
    const error = await decodeError(decodeImageBuffer(claimedSizePng(100_000, 100_000), { storeSize: 64 }, 'bomb.png'));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error.reason).toBe('too large: 100000x100000 pixels exceeds the limit of 100 megapixels (decompression-bomb guard)');
    expect(error.message).toBe(`bomb.png: ${error.reason}`);
    expect(DEFAULT_MAX_PIXELS).toBe(100_000_000);
  });

  it('applies a custom pixel limit: at the limit passes, one pixel more does not', async () => {
    expect((await decodeImageBuffer(await pngOf(100, 100, RED), { storeSize: 16, maxPixels: 10_000 })).image.height).toBe(16);
    expect((await decodeError(decodeImageBuffer(await pngOf(100, 100, RED), { storeSize: 16, maxPixels: 9_999 }))).reason).toMatch(/^too large: 100x100 pixels exceeds the limit of 0\.009999 megapixels/);
  });

  it('reports truncated PNG and JPEG data as "truncated or corrupt"', async () => {
    const raw = sharp(noiseRgb(64, 64), { raw: { width: 64, height: 64, channels: 3 } });
    for (const bytes of [await raw.clone().png().toBuffer(), await raw.clone().jpeg().toBuffer()]) {
      const error = await decodeError(decodeImageBuffer(bytes.subarray(0, Math.floor(bytes.length * 0.6)), { storeSize: 32 }));
      expect(error.reason).toMatch(/^truncated or corrupt: /);
    }
  });

  it('names the file in file-level errors', async () => {
    const text = join(dir, 'text.png');
    await writeFile(text, 'plain text');
    const notImage = await decodeError(decodeImageFile(text, { storeSize: 32 }));
    expect(notImage.path).toBe(text);
    expect(notImage.message).toBe(`${text}: not a supported image (unrecognised contents): its first bytes are not those of a JPEG, PNG, GIF, WebP, TIFF or AVIF file`);
    const missing = await decodeError(decodeImageFile(join(dir, 'missing.png'), { storeSize: 32 }));
    expect(missing.message).toMatch(/missing\.png: not found \(ENOENT\)/);
    await mkdir(join(dir, 'folder.png'));
    expect((await decodeError(decodeImageFile(join(dir, 'folder.png'), { storeSize: 32 }))).reason).toBe('is a directory (EISDIR)');
  });

  it('rejects invalid options with a RangeError', async () => {
    const png = await pngOf(10, 10, RED);
    await expect(decodeImageBuffer(png, { storeSize: 0 })).rejects.toThrow(RangeError);
    await expect(decodeImageBuffer(png, { storeSize: 1.5 })).rejects.toThrow(RangeError);
    await expect(decodeImageBuffer(png, { storeSize: 8, maxPixels: 0 })).rejects.toThrow(RangeError);
    await expect(decodeImageBuffer(png, { storeSize: 8, minSide: -1 })).rejects.toThrow(RangeError);
  });

  it('identifies the pipeline settings for cache keys', () => {
    expect(decodePipelineId({ storeSize: 8 })).toBe(decodePipelineId({ storeSize: 99 }));
    expect(decodePipelineId({ storeSize: 8 })).not.toBe(decodePipelineId({ storeSize: 8, minSide: 4 }));
    expect(decodePipelineId({ storeSize: 8 })).not.toBe(decodePipelineId({ storeSize: 8, maxPixels: 5 }));
  });

  it('decodes in one sharp call (issue 14) to the pixels of the header-first path, EXIF rotation and JPEG shrink-on-load included', async () => {
    // minSide > storeSize takes the two-call path (header, then pixels); the default takes one call.
    const rotated = await sharp(noiseRgb(120, 60, 5), { raw: { width: 120, height: 60, channels: 3 } }).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();
    const oneCall = await decodeImageBuffer(rotated, { storeSize: 24 });
    const twoCalls = await decodeImageBuffer(rotated, { storeSize: 24, minSide: 25 });
    expect([oneCall.image.width, oneCall.image.height, oneCall.format]).toEqual([24, 48, 'jpeg']);
    expect([twoCalls.image.width, twoCalls.image.height, twoCalls.format]).toEqual([24, 48, 'jpeg']);
    expect(Buffer.from(oneCall.image.data).equals(Buffer.from(twoCalls.image.data))).toBe(true);
    // the one-call path still refuses with the precise reasons
    expect((await decodeError(decodeImageBuffer(claimedSizePng(100_000, 100_000), { storeSize: 16 }))).reason).toMatch(/^too large: 100000x100000 pixels/);
    expect((await decodeError(decodeImageBuffer(await pngOf(30, 7, RED), { storeSize: 16 }))).reason).toBe('too small: 30x7 pixels (the shorter side must be at least 8 px)');
  });
});
