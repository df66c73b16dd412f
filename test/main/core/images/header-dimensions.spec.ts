/**
 * The folder check reads each image's size off its header (issue 12 item 1): real files written
 * by sharp, the parsed size checked against sharp's own metadata, and the check refusing what the
 * trainer's decode refuses for its size, in the same words, on both the async and the sync path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../../../main/core/images/decode.js';
import { headDimensions } from '../../../../main/core/images/header-dimensions.js';
import { imageHeadProblem, imageHeadProblemSync } from '../../../../main/core/images/header-check.js';

const solid = (width: number, height: number, channels: 3 | 4 = 3): Sharp => sharp({ create: { width, height, channels, background: { r: 200, g: 80, b: 40, alpha: 1 } } });

/** A JPEG with an APP2 segment of `bytes` after SOI: its frame header lies beyond the first read. */
async function jpegWithLongSegment(width: number, height: number, bytes: number): Promise<Buffer> {
  const plain = await solid(width, height).jpeg().toBuffer();
  const segment = Buffer.alloc(4 + bytes, 0x41);
  segment[0] = 0xff; segment[1] = 0xe2; segment.writeUInt16BE(bytes + 2, 2);
  return Buffer.concat([plain.subarray(0, 2), segment, plain.subarray(2)]);
}

describe('image sizes from the header (folder check, issue 12 item 1)', () => {
  const folder = mkdtempSync(join(tmpdir(), 'moco-head-dims-'));
  afterAll(() => { rmSync(folder, { recursive: true, force: true }); });

  it('reads PNG, GIF, JPEG and the three WebP layouts as sharp does', async () => {
    const files: [string, Buffer][] = [
      ['png', await solid(37, 5).png().toBuffer()],
      ['gif', await solid(1, 1).gif().toBuffer()],
      ['jpeg', await solid(300, 41).jpeg().toBuffer()],
      ['jpeg-progressive', await solid(64, 9).jpeg({ progressive: true }).toBuffer()],
      ['jpeg-long-app2', await jpegWithLongSegment(23, 70, 20_000)],
      ['webp-lossy', await solid(45, 7).webp().toBuffer()],
      ['webp-lossless', await solid(33, 6).webp({ lossless: true }).toBuffer()],
      ['webp-alpha', await solid(17, 12, 4).webp({ alphaQuality: 50 }).toBuffer()],
    ];
    for (const [name, bytes] of files) {
      const { width, height } = await sharp(bytes).metadata();
      let answer = headDimensions(bytes.subarray(0, 4096), bytes.length);
      while ('needBytes' in answer) answer = headDimensions(bytes.subarray(0, answer.needBytes), bytes.length);
      expect(answer, name).toEqual({ dimensions: { width, height } });
    }
  });

  it('leaves formats whose size is not in the first bytes to the trainer', async () => {
    const tiff = await solid(5, 5).tiff().toBuffer();
    expect(headDimensions(tiff, tiff.length)).toEqual({ unknown: true });
  });

  it('refuses a 1x1 GIF, a 4x4 PNG and a 12,000 x 9,000 PNG header before Start, in the words of the trainer', async () => {
    const spacer = join(folder, 'spacer.gif');
    writeFileSync(spacer, await solid(1, 1).gif().toBuffer());
    const tiny = join(folder, 'tiny.png');
    writeFileSync(tiny, await solid(4, 4).png().toBuffer());
    // A PNG whose header claims 108 megapixels (the pixel data is never reached).
    const huge = Buffer.from(await solid(8, 8).png().toBuffer());
    huge.writeUInt32BE(12_000, 16); huge.writeUInt32BE(9_000, 20);
    const bomb = join(folder, 'bomb.png');
    writeFileSync(bomb, huge);
    const fine = join(folder, 'fine.jpg');
    writeFileSync(fine, await jpegWithLongSegment(16, 16, 30_000));
    for (const [path, problem] of [
      [spacer, 'too small: 1x1 pixels (the shorter side must be at least 8 px)'],
      [tiny, 'too small: 4x4 pixels (the shorter side must be at least 8 px)'],
      [bomb, 'too large: 12000x9000 pixels exceeds the limit of 100 megapixels (decompression-bomb guard)'],
      [fine, null],
    ] as const) {
      expect(await imageHeadProblem(path), path).toBe(problem);
      expect(imageHeadProblemSync(path), path).toBe(problem);
    }
    // The trainer's decode says the same of the same files.
    await expect(decodeImageFile(tiny, { storeSize: 32 })).rejects.toThrow('too small: 4x4 pixels (the shorter side must be at least 8 px)');
    await expect(decodeImageFile(bomb, { storeSize: 32 })).rejects.toThrow('too large: 12000x9000 pixels exceeds the limit of 100 megapixels');
  });
});
