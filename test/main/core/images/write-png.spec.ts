import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../../../main/core/images/decode.js';
import { encodeRgbPng, writeRgbPng } from '../../../../main/core/images/write-png.js';
import { makeTempDir, noiseRgb } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  await cleanup();
});

const image = { width: 13, height: 9, data: new Uint8Array(noiseRgb(13, 9, 7)) };

describe('PNG output', () => {
  it('encodes losslessly: an 8-bit RGB PNG that decodes to the same bytes', async () => {
    const png = await encodeRgbPng(image);
    const metadata = await sharp(png).metadata();
    expect([metadata.format, metadata.width, metadata.height, metadata.channels, metadata.depth]).toEqual(['png', 13, 9, 3, 'uchar']);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(data.equals(Buffer.from(image.data))).toBe(true);
  });

  it('writes atomically over an existing file, and the pipeline reads it back unchanged', async () => {
    const path = join(dir, 'sample é.png');
    await writeFile(path, 'old contents');
    await writeRgbPng(path, image);
    expect((await readFile(path)).subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(await readdir(dir)).toEqual(['sample é.png']); // no temporary file left behind
    const decoded = await decodeImageFile(path, { storeSize: 64 });
    expect(Buffer.from(decoded.image.data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('refuses inconsistent images', async () => {
    await expect(encodeRgbPng({ width: 2, height: 2, data: new Uint8Array(13) })).rejects.toThrow(RangeError);
    await expect(encodeRgbPng({ width: 0, height: 2, data: new Uint8Array(0) })).rejects.toThrow(RangeError);
  });
});
