/**
 * Test fixtures for the image pipeline, built with real sharp and real files: a temp-dir helper,
 * small synthetic images, and the bad-input corpus of issue 3 with what each file must become.
 */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { expect } from 'vitest';

export const isRoot = process.getuid?.() === 0;

export async function makeTempDir(prefix = 'moco-images-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {
    dir,
    cleanup: async () => {
      // Restore permissions first, or rm cannot descend into a chmod-000 directory as non-root.
      await chmod(dir, 0o700).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A solid RGB image of the given size, raw HWC. */
export function solidRgb(width: number, height: number, rgb: readonly [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return data;
}

/** Deterministic "noise" that JPEG cannot compress to nothing, so half a file is really half the data. */
export function noiseRgb(width: number, height: number, seed = 1): Buffer {
  const data = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return data;
}

export async function pngOf(width: number, height: number, rgb: readonly [number, number, number]): Promise<Buffer> {
  return sharp(solidRgb(width, height, rgb), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

// CRC-32 (IEEE 802.3, the PNG chunk checksum). node:zlib's crc32 only arrived in Node 22.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, payload: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(payload.length);
  const typeAndPayload = Buffer.concat([Buffer.from(type, 'ascii'), payload]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndPayload));
  return Buffer.concat([length, typeAndPayload, crc]);
}

/** A structurally valid PNG whose header claims width x height RGB pixels, with a few bytes of data. */
export function claimedSizePng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  // compression, filter and interlace methods: 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(64))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** What the loader must make of one corpus file. */
export type Expectation =
  | { kind: 'skipped'; reason: RegExp }
  | { kind: 'used'; width: number; height: number; check?: (data: Uint8Array, width: number) => void }
  | { kind: 'silent' };

export const RED = [220, 20, 30] as const;
export const GREY = [128, 128, 128] as const;

/** RGB of pixel (x, y). */
export function pixel(data: Uint8Array, width: number, x: number, y: number): [number, number, number] {
  const i = (y * width + x) * 3;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

export function expectClose(actual: readonly number[], expected: readonly number[], tolerance: number): void {
  for (let c = 0; c < expected.length; c++) {
    if (Math.abs(actual[c]! - expected[c]!) > tolerance) {
      throw new Error(`pixel ${JSON.stringify(actual)} is not within ${tolerance} of ${JSON.stringify(expected)}`);
    }
  }
}

/**
 * 40x24 grey JPEG with a red 10x10 block in its stored top-left corner, tagged EXIF orientation 6
 * ("rotate 90 degrees clockwise to display"): shown upright it is 24x40 with the block top-right.
 */
export async function exifRotatedJpeg(): Promise<Buffer> {
  const width = 40;
  const height = 24;
  const data = solidRgb(width, height, GREY);
  for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) data.set(RED, (y * width + x) * 3);
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
}

/** 24x16 RGBA PNG: left half opaque red, right half fully transparent (colour channels black). */
export async function alphaPng(): Promise<Buffer> {
  const width = 24;
  const height = 16;
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      if (x < width / 2) data.set([...RED, 255], i);
      else data.set([0, 0, 0, 0], i);
    }
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** Two-frame 16x16 GIF: frame 0 pure red, frame 1 pure blue. */
export async function animatedGif(): Promise<Buffer> {
  const frame = 16;
  const data = Buffer.concat([solidRgb(frame, frame, [255, 0, 0]), solidRgb(frame, frame, [0, 0, 255])]);
  return sharp(data, { raw: { width: frame, height: frame * 2, channels: 3, pageHeight: frame } }).gif({ delay: [100, 100] }).toBuffer();
}

/**
 * Writes the bad-input corpus into `dir` (flat, so no class subfolders) and returns what each file,
 * keyed by relative path, must become when loaded with storeSize 64.
 */
export async function writeBadInputCorpus(dir: string): Promise<Map<string, Expectation>> {
  const expected = new Map<string, Expectation>();
  const put = async (name: string, bytes: Buffer | string, expectation: Expectation): Promise<void> => {
    await writeFile(join(dir, name), bytes);
    expected.set(name, expectation);
  };

  await put('zero-bytes.jpg', Buffer.alloc(0), { kind: 'skipped', reason: /empty file \(0 bytes\)/ });
  const fullJpeg = await sharp(noiseRgb(96, 64), { raw: { width: 96, height: 64, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  await put('truncated.jpg', fullJpeg.subarray(0, fullJpeg.length >> 1), { kind: 'skipped', reason: /^truncated or corrupt: .*premature end/i });
  await put('text-named.jpg', 'this is not a JPEG, just text\n', { kind: 'skipped', reason: /not a supported image \(unrecognised contents\)/ });
  await put('one-pixel.png', await pngOf(1, 1, RED), { kind: 'skipped', reason: /too small: 1x1 pixels/ });
  await put('bomb-100000x100000.png', claimedSizePng(100_000, 100_000), { kind: 'skipped', reason: /too large: 100000x100000 pixels exceeds the limit of 100 megapixels/ });

  await put('cmyk.jpg', await sharp(solidRgb(32, 24, RED), { raw: { width: 32, height: 24, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(), {
    kind: 'used', width: 32, height: 24,
    // CMYK round trips through a profile conversion: close, not exact.
    check: (data, width) => { expectClose(pixel(data, width, 16, 12), RED, 40); },
  });
  await put('rgb16.png', await sharp(solidRgb(20, 12, [10, 200, 77]), { raw: { width: 20, height: 12, channels: 3 } }).toColourspace('rgb16').png().toBuffer(), {
    kind: 'used', width: 20, height: 12,
    // 8-bit v became v * 257 in 16 bits and must come back exactly.
    check: (data, width) => { expect(pixel(data, width, 5, 5)).toEqual([10, 200, 77]); },
  });
  await put('grey.png', await sharp(solidRgb(16, 16, [90, 90, 90]), { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('b-w').png().toBuffer(), {
    kind: 'used', width: 16, height: 16,
    check: (data, width) => { expect(pixel(data, width, 3, 3)).toEqual([90, 90, 90]); },
  });
  await put('alpha.png', await alphaPng(), {
    kind: 'used', width: 24, height: 16,
    check: (data, width) => {
      expect(pixel(data, width, 2, 8)).toEqual([...RED]);
      expect(pixel(data, width, 20, 8)).toEqual([255, 255, 255]); // transparent -> white background
    },
  });
  await put('animated.gif', await animatedGif(), {
    kind: 'used', width: 16, height: 16, // one frame, not the 16x32 strip
    check: (data, width) => {
      expect(pixel(data, width, 8, 4)).toEqual([255, 0, 0]);
      expect(pixel(data, width, 8, 12)).toEqual([255, 0, 0]);
    },
  });
  await put('exif-orientation-6.jpg', await exifRotatedJpeg(), {
    kind: 'used', width: 24, height: 40,
    check: (data, width) => {
      expectClose(pixel(data, width, 21, 2), RED, 30); // stored top-left -> displayed top-right
      expectClose(pixel(data, width, 2, 2), GREY, 30);
      expectClose(pixel(data, width, 21, 37), GREY, 30);
    },
  });
  await put('été photo 1.png', await pngOf(12, 10, [1, 2, 3]), {
    kind: 'used', width: 12, height: 10,
    check: (data, width) => { expect(pixel(data, width, 0, 0)).toEqual([1, 2, 3]); },
  });
  await put('UPPER CASE.PNG', await pngOf(10, 10, [4, 5, 6]), { kind: 'used', width: 10, height: 10 });
  await put('bitmap.bmp', Buffer.from('BM not really'), { kind: 'skipped', reason: /^unsupported type \.bmp$/ });
  await put('notes.txt', 'hello', { kind: 'skipped', reason: /^unsupported type \.txt$/ });
  await put('.hidden.png', await pngOf(10, 10, RED), { kind: 'silent' });

  // dir/link -> dir
  await mkdir(join(dir, 'loop'));
  await symlink(join(dir, 'loop'), join(dir, 'loop', 'again'), 'dir');
  expected.set('loop/again', { kind: 'skipped', reason: /^symlink loop/ });

  // Unreadable: as root, permission bits are not enforced, so the file loads (the EACCES path is
  // covered by a test that drops to an unprivileged user).
  await put('locked.png', await pngOf(10, 10, [7, 8, 9]), isRoot ? { kind: 'used', width: 10, height: 10 } : { kind: 'skipped', reason: /unreadable: permission denied \(EACCES\)/ });
  await chmod(join(dir, 'locked.png'), 0o000);
  return expected;
}
