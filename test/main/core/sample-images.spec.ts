import { describe, expect, it } from 'vitest';
import { generateSampleImage, generateSampleSet, SAMPLE_CLASSES } from '../../../main/core/sample-images.js';

function lumaStats(data: Uint8Array): { std: number; range: number } {
  const n = data.length / 3;
  let sum = 0;
  let sum2 = 0;
  let lo = 255;
  let hi = 0;
  for (let i = 0; i < data.length; i += 3) {
    const l = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
    sum += l;
    sum2 += l * l;
    lo = Math.min(lo, l);
    hi = Math.max(hi, l);
  }
  const mean = sum / n;
  return { std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) / 255, range: (hi - lo) / 255 };
}

const key = (data: Uint8Array): string => Buffer.from(data).toString('base64');

describe('sample images', () => {
  it('has at least 8 distinct classes', () => {
    expect(SAMPLE_CLASSES.length).toBeGreaterThanOrEqual(8);
    expect(new Set(SAMPLE_CLASSES).size).toBe(SAMPLE_CLASSES.length);
  });

  it('is deterministic in (class, index, size, seed), and each image is independent of the set', () => {
    const a = generateSampleSet({ perClass: 5, size: 32, seed: 3 });
    const b = generateSampleSet({ perClass: 5, size: 32, seed: 3 });
    expect(a.map((s) => key(s.image.data))).toEqual(b.map((s) => key(s.image.data)));
    const c = generateSampleSet({ perClass: 5, size: 32, seed: 4 });
    a.forEach((s, i) => { expect(key(s.image.data)).not.toBe(key(c[i]!.image.data)); });
    const one = a[17]!;
    expect(key(generateSampleImage(one.className, one.index, 32, 3).data)).toBe(key(one.image.data));
  });

  it('orders the set class by class with per-class indices', () => {
    const set = generateSampleSet({ perClass: 3, size: 16, seed: 1 });
    expect(set.length).toBe(3 * SAMPLE_CLASSES.length);
    expect(set.map((s) => `${s.className}:${s.index}`)).toEqual(SAMPLE_CLASSES.flatMap((c) => [0, 1, 2].map((i) => `${c}:${i}`)));
  });

  it.each([16, 32, 64, 65])('makes %i-px RGB images', (size) => {
    for (const className of SAMPLE_CLASSES) {
      const image = generateSampleImage(className, 0, size, 9);
      expect(image.width).toBe(size);
      expect(image.height).toBe(size);
      expect(image.data).toBeInstanceOf(Uint8Array);
      expect(image.data.length).toBe(size * size * 3);
    }
  });

  it('never repeats an image and every image has clear luma contrast (it survives grayscale)', () => {
    const set = generateSampleSet({ perClass: 40, size: 64, seed: 1 });
    expect(new Set(set.map((s) => key(s.image.data))).size).toBe(set.length);
    for (const { className, image } of set) {
      const { std, range } = lumaStats(image.data);
      expect(range, className).toBeGreaterThan(0.25);
      expect(std, className).toBeGreaterThan(0.08);
    }
  });

  it('varies colour within a class, so colour does not identify the class', () => {
    for (const className of SAMPLE_CLASSES) {
      const means = Array.from({ length: 12 }, (_, i) => {
        const { data } = generateSampleImage(className, i, 32, 5);
        let r = 0;
        let g = 0;
        let b = 0;
        for (let j = 0; j < data.length; j += 3) { r += data[j]!; g += data[j + 1]!; b += data[j + 2]!; }
        return [r, g, b].map((v) => v / (data.length / 3));
      });
      // The spread of mean colour across instances of one class is large on at least two channels.
      const spreads = [0, 1, 2].map((c) => Math.max(...means.map((m) => m[c]!)) - Math.min(...means.map((m) => m[c]!)));
      expect(spreads.filter((s) => s > 60).length, className).toBeGreaterThanOrEqual(2);
    }
  });

  it('rejects unknown classes and bad sizes', () => {
    expect(() => generateSampleImage('hexagon', 0, 32, 1)).toThrow(/unknown sample class 'hexagon'/);
    expect(() => generateSampleImage('circle', 0, 4, 1)).toThrow(/size/);
    expect(() => generateSampleImage('circle', -1, 32, 1)).toThrow(/instanceIndex/);
    expect(() => generateSampleSet({ perClass: 0, size: 32, seed: 1 })).toThrow(/perClass/);
  });

  it('generates 400 images of 64 px quickly', () => {
    generateSampleSet({ perClass: 4, size: 64, seed: 0 }); // warm up the JIT
    const start = performance.now();
    generateSampleSet({ perClass: 40, size: 64, seed: 2 });
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
