import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageBuffer, storedSize } from '../../../../main/core/images/decode.js';
import { downscaleRgb } from '../../../../main/core/images/resize-rgb.js';
import { noiseRgb } from './corpus.js';

/** Smooth bands with noise on top: edges and flat parts, as photos and icons have. */
function texture(width: number, height: number): Uint8Array {
  const noise = noiseRgb(width, height, 7);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const at = (y * width + x) * 3 + c;
        data[at] = Math.round(127 + 100 * Math.sin(x / 5 + c) * Math.cos(y / 7)) ^ (noise[at]! & 15);
      }
    }
  }
  return data;
}

function largestDifference(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]! - b[i]!));
  return largest;
}

describe('downscaleRgb (issue 14: the small-image path of decode)', () => {
  // Below a factor of 2, where decode uses it; from 2 up libvips box-shrinks first, and decode leaves those to sharp.
  it("gives sharp's default Lanczos-3 within one level, at the factors decode uses it for (below 2)", async () => {
    for (const [width, height, toWidth, toHeight] of [[96, 96, 64, 64], [120, 100, 77, 64], [127, 90, 90, 64], [100, 100, 51, 51], [300, 40, 151, 21]] as const) {
      const data = texture(width, height);
      const ours = downscaleRgb({ width, height, data }, toWidth, toHeight);
      const theirs = await sharp(data, { raw: { width, height, channels: 3 } }).resize({ width: toWidth, height: toHeight, fit: 'fill' }).raw().toBuffer();
      expect(largestDifference(ours.data, theirs), `${width}x${height} -> ${toWidth}x${toHeight}`).toBeLessThanOrEqual(1);
      // Another filter (the tent) is more than one level away, so the check can fail.
      const tent = await sharp(data, { raw: { width, height, channels: 3 } }).resize({ width: toWidth, height: toHeight, fit: 'fill', kernel: 'linear' }).raw().toBuffer();
      expect(largestDifference(ours.data, tent)).toBeGreaterThan(1);
    }
  });

  it('runs its passes in WebAssembly with the JavaScript passes\' pixels bit for bit (odd widths, one factor, extreme values, a reused memory)', () => {
    const cases = [[96, 96, 64, 64], [97, 61, 65, 41], [3, 200, 2, 101], [255, 129, 128, 65], [64, 2000, 33, 1031], [5, 5, 4, 4]] as const;
    for (const [width, height, toWidth, toHeight] of cases) {
      for (const data of [texture(width, height), noiseRgb(width, height, width), new Uint8Array(width * height * 3).map((_, i) => ((i * 7919) >> 3) & 1 ? 255 : 0)]) {
        const wasm = downscaleRgb({ width, height, data }, toWidth, toHeight);
        const javascript = downscaleRgb({ width, height, data }, toWidth, toHeight, undefined, 'javascript');
        expect(Buffer.from(wasm.data).equals(Buffer.from(javascript.data)), `${width}x${height} -> ${toWidth}x${toHeight}`).toBe(true);
      }
    }
    // decode's aspect-keeping factor on both axes
    const data = texture(96, 131);
    expect(Buffer.from(downscaleRgb({ width: 96, height: 131, data }, 64, 87, 1.5).data).equals(Buffer.from(downscaleRgb({ width: 96, height: 131, data }, 64, 87, 1.5, 'javascript').data))).toBe(true);
  });

  it('keeps a flat colour exactly, returns a same-size image as it is, and refuses to enlarge', () => {
    const flat = { width: 90, height: 70, data: new Uint8Array(90 * 70 * 3).fill(0).map((_, i) => [12, 200, 255][i % 3]!) };
    const small = downscaleRgb(flat, 61, 47);
    expect(new Set(Array.from({ length: 61 * 47 }, (_, i) => small.data.slice(i * 3, i * 3 + 3).join(','))).size).toBe(1);
    expect(Array.from(small.data.slice(0, 3))).toEqual([12, 200, 255]);
    expect(downscaleRgb(flat, 90, 70)).toBe(flat);
    expect(() => downscaleRgb(flat, 91, 70)).toThrow(/cannot resize 90x70 to 91x70/);
    expect(() => downscaleRgb(flat, 0, 70)).toThrow(RangeError);
  });

  it("makes decode's stored copies the size and pixels (within one level) of sharp's fit 'outside' resize, on both sides of the 2x switch", async () => {
    for (const [width, height] of [[96, 96], [96, 131], [131, 96], [127, 65], [65, 127], [100, 333], [128, 128], [150, 97], [640, 479]] as const) {
      const png = await sharp(texture(width, height), { raw: { width, height, channels: 3 } }).png().toBuffer();
      const decoded = await decodeImageBuffer(png, { storeSize: 64 });
      const expected = await sharp(png).resize({ width: 64, height: 64, fit: 'outside', withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true });
      expect([decoded.image.width, decoded.image.height], `${width}x${height}`).toEqual([expected.info.width, expected.info.height]);
      expect(storedSize(width, height, 64)).toEqual({ width: expected.info.width, height: expected.info.height });
      expect(largestDifference(decoded.image.data, expected.data), `${width}x${height}`).toBeLessThanOrEqual(1);
    }
  });
});
