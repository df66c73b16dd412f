import { describe, expect, it } from 'vitest';
import {
  augment,
  defaultAugmentationConfig,
  denormalizeToRgb,
  evalTransform,
  IMAGENET_MEAN,
  IMAGENET_STD,
  twoCropsTransform,
  validateAugmentationConfig,
  type AugmentationConfig,
  type AugmentationParams,
  type RgbImage,
} from '../../../main/ml/augment.js';
import { Rng } from '../../../main/ml/rng.js';

/** A deterministic, non-symmetric test image: smooth gradients plus a few hard edges. */
function testImage(width: number, height: number, seed = 1): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((255 * x) / Math.max(1, width - 1));
      data[i + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[i + 2] = (x + 2 * y) % 7 < 3 ? 40 : 200 + rng.int(50);
    }
  }
  return { width, height, data };
}

function uniformImage(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, data };
}

/** Only the crop, nothing random afterwards. */
function plainConfig(outputSize: number, overrides: Partial<AugmentationConfig> = {}): AugmentationConfig {
  return {
    ...defaultAugmentationConfig('v2', outputSize),
    jitterProbability: 0,
    grayscaleProbability: 0,
    blurProbability: 0,
    flipProbability: 0,
    ...overrides,
  };
}

/** Denormalised values in [0, 1] (not rounded). */
function toUnit(values: Float32Array, offset: number, n: number): Float32Array {
  const unit = new Float32Array(n);
  for (let i = 0; i < n; i++) unit[i] = values[offset + i]! * IMAGENET_STD[i % 3]! + IMAGENET_MEAN[i % 3]!;
  return unit;
}

function draws(config: AugmentationConfig, count: number, image: RgbImage, seed = 42): AugmentationParams[] {
  const rng = new Rng(seed);
  const out = new Float32Array(config.outputSize * config.outputSize * 3);
  const params: AugmentationParams[] = [];
  for (let i = 0; i < count; i++) params.push(augment(image, config, rng, out, 0));
  return params;
}

/** Binomial frequency check at 4.5 standard deviations. */
function expectFrequency(hits: number, n: number, p: number): void {
  const tolerance = 4.5 * Math.sqrt((p * (1 - p)) / n);
  expect(Math.abs(hits / n - p)).toBeLessThan(tolerance);
}

describe('RandomResizedCrop parameters', () => {
  it('keeps area fraction and aspect ratio in range (up to integer rounding) and the box inside the image', () => {
    const image = testImage(120, 90);
    const params = draws(defaultAugmentationConfig('v1', 8), 3000, image);
    const area = image.width * image.height;
    let minFraction = 1;
    let maxFraction = 0;
    let fallbacks = 0;
    for (const { crop, cropFallback } of params) {
      expect(Number.isInteger(crop.x) && Number.isInteger(crop.y)).toBe(true);
      expect(crop.x).toBeGreaterThanOrEqual(0);
      expect(crop.y).toBeGreaterThanOrEqual(0);
      expect(crop.x + crop.width).toBeLessThanOrEqual(image.width);
      expect(crop.y + crop.height).toBeLessThanOrEqual(image.height);
      if (cropFallback) {
        fallbacks++;
        continue;
      }
      const { width: w, height: h } = crop;
      // w = round(sqrt(A s r)), h = round(sqrt(A s / r)), so each is within 0.5 of the exact value.
      expect((w - 0.5) * (h - 0.5)).toBeLessThanOrEqual(area * 1.0);
      expect((w + 0.5) * (h + 0.5)).toBeGreaterThanOrEqual(area * 0.2);
      expect((w - 0.5) / (h + 0.5)).toBeLessThanOrEqual(4 / 3);
      expect((w + 0.5) / (h - 0.5)).toBeGreaterThanOrEqual(3 / 4);
      const fraction = (w * h) / area;
      minFraction = Math.min(minFraction, fraction);
      maxFraction = Math.max(maxFraction, fraction);
    }
    // The whole range is used, and the fallback is rare on an ordinary image.
    expect(minFraction).toBeLessThan(0.22);
    expect(maxFraction).toBeGreaterThan(0.9);
    expect(fallbacks).toBeLessThan(30);
  });

  it('falls back to the torchvision centre crop when no try fits', () => {
    // A 400x20 image cannot hold a crop of >= 20% area with aspect <= 4/3: always the fallback.
    const image = testImage(400, 20);
    for (const p of draws(defaultAugmentationConfig('v1', 8), 50, image)) {
      expect(p.cropFallback).toBe(true);
      expect(p.crop).toEqual({ x: 186, y: 0, width: 27, height: 20 });
    }
    const tall = testImage(30, 100);
    for (const p of draws({ ...defaultAugmentationConfig('v1', 8), scale: [0.9, 1] }, 20, tall)) {
      expect(p.cropFallback).toBe(true);
      expect(p.crop).toEqual({ x: 0, y: 30, width: 30, height: 40 });
    }
  });
});

describe('colour jitter, grayscale, blur and flip draws', () => {
  const image = testImage(48, 48);

  it('v1: jitter always applied with factors in [0.6, 1.4], hue in [-0.4, 0.4], order a permutation; no blur', () => {
    const params = draws(defaultAugmentationConfig('v1', 8), 2000, image);
    let hueMin = 1;
    let hueMax = -1;
    let grey = 0;
    let flips = 0;
    for (const p of params) {
      expect(p.jitter.applied).toBe(true);
      for (const f of [p.jitter.brightness, p.jitter.contrast, p.jitter.saturation]) {
        expect(f).toBeGreaterThanOrEqual(0.6);
        expect(f).toBeLessThanOrEqual(1.4);
      }
      expect(Math.abs(p.jitter.hue)).toBeLessThanOrEqual(0.4);
      hueMin = Math.min(hueMin, p.jitter.hue);
      hueMax = Math.max(hueMax, p.jitter.hue);
      expect([...p.jitter.order].sort()).toEqual(['brightness', 'contrast', 'hue', 'saturation']);
      expect(p.blurSigma).toBeNull();
      if (p.grayscale) grey++;
      if (p.flipped) flips++;
    }
    expect(hueMin).toBeLessThan(-0.38);
    expect(hueMax).toBeGreaterThan(0.38);
    expectFrequency(grey, params.length, 0.2);
    expectFrequency(flips, params.length, 0.5);
    // All 24 orders occur.
    expect(new Set(params.map((p) => p.jitter.order.join(','))).size).toBe(24);
  });

  it('v2: jitter ~80 %, grayscale ~20 %, blur ~50 % with sigma in [0.1, 2], flip ~50 %, hue in [-0.1, 0.1]', () => {
    const params = draws(defaultAugmentationConfig('v2', 8), 4000, image, 7);
    let jitter = 0;
    let grey = 0;
    let blur = 0;
    let flips = 0;
    for (const p of params) {
      if (p.jitter.applied) {
        jitter++;
        expect(Math.abs(p.jitter.hue)).toBeLessThanOrEqual(0.1);
        expect(p.jitter.brightness).toBeGreaterThanOrEqual(0.6);
        expect(p.jitter.brightness).toBeLessThanOrEqual(1.4);
        expect([...p.jitter.order].sort()).toEqual(['brightness', 'contrast', 'hue', 'saturation']);
      } else {
        expect(p.jitter).toEqual({ applied: false, brightness: 1, contrast: 1, saturation: 1, hue: 0, order: [] });
      }
      if (p.grayscale) grey++;
      if (p.flipped) flips++;
      if (p.blurSigma !== null) {
        blur++;
        expect(p.blurSigma).toBeGreaterThanOrEqual(0.1);
        expect(p.blurSigma).toBeLessThanOrEqual(2.0);
        expect(p.blurSigmaPixels).toBeCloseTo((p.blurSigma * 8) / 224, 12);
      } else {
        expect(p.blurSigmaPixels).toBeNull();
      }
    }
    expectFrequency(jitter, params.length, 0.8);
    expectFrequency(grey, params.length, 0.2);
    expectFrequency(blur, params.length, 0.5);
    expectFrequency(flips, params.length, 0.5);
  });

  it('params are plain JSON data', () => {
    const [p] = draws(defaultAugmentationConfig('v2', 8), 1, image);
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });
});

describe('determinism', () => {
  const image = testImage(64, 48);
  const size = 24;
  const n = size * size * 3;

  function run(seed: number, preset: 'v1' | 'v2') {
    const rng = new Rng(seed);
    const q = new Float32Array(4 * n);
    const k = new Float32Array(4 * n);
    const params = [];
    for (let i = 0; i < 4; i++) params.push(twoCropsTransform(image, defaultAugmentationConfig(preset, size), rng, q, k, i * n));
    return { q, k, params };
  }

  it.each(['v1', 'v2'] as const)('%s: same seed gives identical bytes and params; another seed does not', (preset) => {
    const a = run(5, preset);
    const b = run(5, preset);
    expect(Buffer.from(a.q.buffer).equals(Buffer.from(b.q.buffer))).toBe(true);
    expect(Buffer.from(a.k.buffer).equals(Buffer.from(b.k.buffer))).toBe(true);
    expect(a.params).toEqual(b.params);
    const c = run(6, preset);
    expect(Buffer.from(a.q.buffer).equals(Buffer.from(c.q.buffer))).toBe(false);
    expect(a.params).not.toEqual(c.params);
  });

  it('twoCropsTransform is two independent draws: query then key from the same stream', () => {
    const config = defaultAugmentationConfig('v2', size);
    const q = new Float32Array(n);
    const k = new Float32Array(n);
    const pair = twoCropsTransform(image, config, new Rng(11), q, k, 0);
    expect(pair.query).not.toEqual(pair.key);
    expect(Buffer.from(q.buffer).equals(Buffer.from(k.buffer))).toBe(false);

    const rng = new Rng(11);
    const q2 = new Float32Array(n);
    const k2 = new Float32Array(n);
    expect(augment(image, config, rng, q2, 0)).toEqual(pair.query);
    expect(augment(image, config, rng, k2, 0)).toEqual(pair.key);
    expect(Array.from(q2)).toEqual(Array.from(q));
    expect(Array.from(k2)).toEqual(Array.from(k));
  });

  it('writes only its own slot of a batch buffer', () => {
    const out = new Float32Array(3 * n).fill(Number.NaN);
    augment(image, defaultAugmentationConfig('v2', size), new Rng(1), out, n);
    expect(out.subarray(0, n).every(Number.isNaN)).toBe(true);
    expect(out.subarray(2 * n).every(Number.isNaN)).toBe(true);
    expect(out.subarray(n, 2 * n).every(Number.isFinite)).toBe(true);
  });
});

describe('pixel operations', () => {
  it('a full-image crop at the same size reproduces the image; flip mirrors it exactly', () => {
    const image = testImage(20, 20);
    const n = 20 * 20 * 3;
    const identity = plainConfig(20, { scale: [1, 1], ratio: [1, 1] });
    const out = new Float32Array(n);
    const p = augment(image, identity, new Rng(3), out, 0);
    expect(p.crop).toEqual({ x: 0, y: 0, width: 20, height: 20 });
    expect(p.flipped).toBe(false);
    expect(Array.from(denormalizeToRgb(out, 0, 20))).toEqual(Array.from(image.data));

    const flipped = new Float32Array(n);
    expect(augment(image, { ...identity, flipProbability: 1 }, new Rng(3), flipped, 0).flipped).toBe(true);
    const rgb = denormalizeToRgb(flipped, 0, 20);
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        for (let c = 0; c < 3; c++) {
          expect(rgb[(y * 20 + x) * 3 + c]).toBe(image.data[(y * 20 + (19 - x)) * 3 + c]);
        }
      }
    }
  });

  it('bilinear resize of a crop samples the crop box (a 2x upscale of a half-image crop)', () => {
    // Left half black, right half white; a 2x upscale of the left 8x16 half must be all black.
    const data = new Uint8Array(16 * 16 * 3);
    for (let y = 0; y < 16; y++) for (let x = 8; x < 16; x++) data.fill(255, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3);
    const image = { width: 16, height: 16, data };
    // scale 0.5 with ratio 0.5 gives exactly w=8, h=16; a 16-px output is then 2x wide, 1x tall.
    const config = plainConfig(16, { scale: [0.5, 0.5], ratio: [0.5, 0.5] });
    const out = new Float32Array(16 * 16 * 3);
    let checked = 0;
    for (let seed = 0; seed < 40; seed++) {
      const p = augment(image, config, new Rng(seed), out, 0);
      expect(p.crop.width).toBe(8);
      expect(p.crop.height).toBe(16);
      const rgb = denormalizeToRgb(out, 0, 16);
      const expected = p.crop.x === 0 ? 0 : p.crop.x === 8 ? 255 : null;
      if (expected !== null) {
        checked++;
        expect(rgb.every((v) => v === expected)).toBe(true);
      } else {
        // A crop straddling the edge shows both halves.
        expect(rgb.includes(0) && rgb.includes(255)).toBe(true);
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('normalises with the ImageNet mean and std', () => {
    const grey = Math.round(0.485 * 255); // 124
    const image = uniformImage(16, 16, [grey, grey, grey]);
    const out = new Float32Array(8 * 8 * 3);
    augment(image, plainConfig(8), new Rng(1), out, 0);
    for (let i = 0; i < out.length; i += 3) {
      expect(Math.abs(out[i]!)).toBeLessThan(0.01);
      expect(out[i + 1]).toBeCloseTo((grey / 255 - 0.456) / 0.224, 5);
      expect(out[i + 2]).toBeCloseTo((grey / 255 - 0.406) / 0.225, 5);
    }
    const white = new Float32Array(8 * 8 * 3);
    augment(uniformImage(16, 16, [255, 255, 255]), plainConfig(8), new Rng(1), white, 0);
    expect(white[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
  });

  it.each(['v1', 'v2'] as const)('%s: grayscale views have three equal channels', (preset) => {
    const config: AugmentationConfig = { ...defaultAugmentationConfig(preset, 16), grayscaleProbability: 1 };
    const image = testImage(40, 30);
    const rng = new Rng(9);
    const out = new Float32Array(16 * 16 * 3);
    for (let t = 0; t < 20; t++) {
      expect(augment(image, config, rng, out, 0).grayscale).toBe(true);
      const unit = toUnit(out, 0, out.length);
      for (let i = 0; i < unit.length; i += 3) {
        expect(Math.abs(unit[i]! - unit[i + 1]!)).toBeLessThan(1e-5);
        expect(Math.abs(unit[i]! - unit[i + 2]!)).toBeLessThan(1e-5);
      }
    }
    // And without grayscale a coloured image keeps distinct channels.
    augment(image, { ...config, grayscaleProbability: 0 }, rng, out, 0);
    const unit = toUnit(out, 0, out.length);
    expect(unit.some((v, i) => i % 3 === 0 && Math.abs(v - unit[i + 1]!) > 0.05)).toBe(true);
  });

  it('brightness multiplies and clamps', () => {
    const config = plainConfig(4, { jitterProbability: 1, contrast: 0, saturation: 0, hue: 0, brightness: 0.9 });
    const image = uniformImage(8, 8, [100, 200, 20]);
    const rng = new Rng(2);
    const out = new Float32Array(4 * 4 * 3);
    for (let t = 0; t < 20; t++) {
      const f = augment(image, config, rng, out, 0).jitter.brightness;
      const unit = toUnit(out, 0, 3);
      expect(unit[0]).toBeCloseTo(Math.min(1, (100 / 255) * f), 5);
      expect(unit[1]).toBeCloseTo(Math.min(1, (200 / 255) * f), 5);
      expect(unit[2]).toBeCloseTo(Math.min(1, (20 / 255) * f), 5);
    }
  });

  it('saturation blends with the grey image, contrast with its mean grey', () => {
    const image = testImage(8, 8);
    const rng = new Rng(4);
    const out = new Float32Array(8 * 8 * 3);
    const src = Float32Array.from(image.data, (v) => v / 255);
    const lum = (a: Float32Array, i: number) => 0.299 * a[i]! + 0.587 * a[i + 1]! + 0.114 * a[i + 2]!;
    const base = plainConfig(8, { scale: [1, 1], ratio: [1, 1], jitterProbability: 1, brightness: 0, hue: 0 });

    const sat = augment(image, { ...base, contrast: 0, saturation: 0.9 }, rng, out, 0).jitter.saturation;
    let unit = toUnit(out, 0, out.length);
    for (let i = 0; i < src.length; i++) {
      const g = lum(src, i - (i % 3));
      expect(unit[i]).toBeCloseTo(Math.min(1, Math.max(0, sat * src[i]! + (1 - sat) * g)), 5);
    }

    const con = augment(image, { ...base, saturation: 0, contrast: 0.9 }, rng, out, 0).jitter.contrast;
    let mean = 0;
    for (let i = 0; i < src.length; i += 3) mean += lum(src, i);
    mean /= src.length / 3;
    unit = toUnit(out, 0, out.length);
    for (let i = 0; i < src.length; i++) {
      expect(unit[i]).toBeCloseTo(Math.min(1, Math.max(0, con * src[i]! + (1 - con) * mean)), 5);
    }
  });

  it('hue rotates the colour wheel by the drawn fraction of a turn', () => {
    const hueOf = (r: number, g: number, b: number): number => {
      const max = Math.max(r, g, b);
      const d = max - Math.min(r, g, b);
      const h = max === r ? (g - b) / d : max === g ? 2 + (b - r) / d : 4 + (r - g) / d;
      return (((h / 6) % 1) + 1) % 1;
    };
    const config = plainConfig(4, { jitterProbability: 1, brightness: 0, contrast: 0, saturation: 0, hue: 0.5 });
    const image = uniformImage(8, 8, [230, 60, 20]); // an orange-red, hue ~0.0147
    const h0 = hueOf(230, 60, 20);
    const rng = new Rng(8);
    const out = new Float32Array(4 * 4 * 3);
    for (let t = 0; t < 30; t++) {
      const shift = augment(image, config, rng, out, 0).jitter.hue;
      const [r, g, b] = toUnit(out, 0, 3);
      const expected = (((h0 + shift) % 1) + 1) % 1;
      const diff = Math.abs(hueOf(r!, g!, b!) - expected);
      expect(Math.min(diff, 1 - diff)).toBeLessThan(1e-4);
      // Value (max channel) and saturation are preserved.
      expect(Math.max(r!, g!, b!)).toBeCloseTo(230 / 255, 5);
    }
  });

  it('blur smooths, and its sigma scales with outputSize unless turned off', () => {
    // A 1-px checkerboard: blur with sigma 2 px removes almost all of its contrast.
    const data = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) if ((x + y) % 2 === 0) data.fill(255, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const image = { width: 32, height: 32, data };
    // Spread of values away from the border (edges are clamped, which biases the outer pixels).
    const spread = (out: Float32Array): number => {
      const unit = toUnit(out, 0, out.length);
      let lo = 1;
      let hi = 0;
      for (let y = 8; y < 24; y++) {
        for (let x = 8; x < 24; x++) {
          const v = unit[(y * 32 + x) * 3]!;
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
      return hi - lo;
    };
    const sharp = plainConfig(32, { scale: [1, 1], ratio: [1, 1] });
    const out = new Float32Array(32 * 32 * 3);
    augment(image, sharp, new Rng(1), out, 0);
    expect(spread(out)).toBeGreaterThan(0.99);

    const unscaled = { ...sharp, blurProbability: 1, blurSigma: [2, 2] as const, blurScaleWithOutputSize: false };
    const p = augment(image, unscaled, new Rng(1), out, 0);
    expect(p.blurSigma).toBe(2);
    expect(p.blurSigmaPixels).toBe(2);
    expect(spread(out)).toBeLessThan(0.05);

    // Scaled to 32 px the same draw is 2 * 32 / 224 = 0.29 px: the pattern survives.
    const q = augment(image, { ...unscaled, blurScaleWithOutputSize: true }, new Rng(1), out, 0);
    expect(q.blurSigmaPixels).toBeCloseTo(2 * 32 / 224, 12);
    expect(spread(out)).toBeGreaterThan(0.9);
  });
});

describe('pipeline order', () => {
  it('draws random numbers in the reference order (v1: crop, grayscale, jitter, flip)', () => {
    const image = testImage(16, 16);
    const config = { ...defaultAugmentationConfig('v1', 8), scale: [1, 1] as const, ratio: [1, 1] as const };
    const p = augment(image, config, new Rng(21), new Float32Array(8 * 8 * 3), 0);
    const r = new Rng(21);
    r.next(); r.next(); r.int(1); r.int(1); // crop: area, log-ratio, top, left
    expect(p.grayscale).toBe(r.bernoulli(0.2));
    expect(r.bernoulli(1)).toBe(true); // RandomApply(p=1) still draws
    const order = Array.from(r.permutation(4), (i) => ['brightness', 'contrast', 'saturation', 'hue'][i]);
    expect(p.jitter.order).toEqual(order);
    expect(p.jitter.brightness).toBe(r.uniform(0.6, 1.4));
    expect(p.jitter.contrast).toBe(r.uniform(0.6, 1.4));
    expect(p.jitter.saturation).toBe(r.uniform(0.6, 1.4));
    expect(p.jitter.hue).toBe(r.uniform(-0.4, 0.4));
    expect(p.flipped).toBe(r.bernoulli(0.5));
  });

  it('draws random numbers in the reference order (v2: crop, jitter p=0.8, grayscale, blur p=0.5, flip)', () => {
    const image = testImage(16, 16);
    const config = {
      ...defaultAugmentationConfig('v2', 8), scale: [1, 1] as const, ratio: [1, 1] as const,
      jitterProbability: 1, blurProbability: 1,
    };
    const p = augment(image, config, new Rng(22), new Float32Array(8 * 8 * 3), 0);
    const r = new Rng(22);
    r.next(); r.next(); r.int(1); r.int(1);
    expect(r.bernoulli(1)).toBe(true);
    const order = Array.from(r.permutation(4), (i) => ['brightness', 'contrast', 'saturation', 'hue'][i]);
    expect(p.jitter.order).toEqual(order);
    expect(p.jitter.brightness).toBe(r.uniform(0.6, 1.4));
    expect(p.jitter.contrast).toBe(r.uniform(0.6, 1.4));
    expect(p.jitter.saturation).toBe(r.uniform(0.6, 1.4));
    expect(p.jitter.hue).toBe(r.uniform(-0.1, 0.1));
    expect(p.grayscale).toBe(r.bernoulli(0.2));
    expect(r.bernoulli(1)).toBe(true);
    expect(p.blurSigma).toBe(r.uniform(0.1, 2.0));
    expect(p.flipped).toBe(r.bernoulli(0.5));
  });

  it('v1 turns grey before the jitter (hue is then a no-op); v2 after (hue changes the grey level)', () => {
    const red = uniformImage(8, 8, [255, 0, 0]);
    const redLuma = 0.299;
    const hueOnly = { jitterProbability: 1, grayscaleProbability: 1, brightness: 0, contrast: 0, saturation: 0 };
    const out = new Float32Array(4 * 4 * 3);
    const v1 = { ...defaultAugmentationConfig('v1', 4), ...hueOnly, hue: 0.5 };
    const p1 = augment(red, v1, new Rng(1), out, 0);
    expect(Math.abs(p1.jitter.hue)).toBeGreaterThan(0.05);
    expect(toUnit(out, 0, 3)[0]).toBeCloseTo(redLuma, 5);

    const v2 = { ...defaultAugmentationConfig('v2', 4), ...hueOnly, hue: 0.5, blurProbability: 0 };
    const p2 = augment(red, v2, new Rng(1), out, 0);
    expect(Math.abs(p2.jitter.hue)).toBeGreaterThan(0.05);
    expect(Math.abs(toUnit(out, 0, 3)[0]! - redLuma)).toBeGreaterThan(0.02);
  });
});

describe('evalTransform', () => {
  it('resizes the shorter side to size * 256/224 and keeps the centre (landscape)', () => {
    // 80x40, left half black, right half white; output 28 -> resize to 64x32, centre crop 28.
    const data = new Uint8Array(80 * 40 * 3);
    for (let y = 0; y < 40; y++) for (let x = 40; x < 80; x++) data.fill(255, (y * 80 + x) * 3, (y * 80 + x) * 3 + 3);
    const out = new Float32Array(28 * 28 * 3);
    const box = evalTransform({ width: 80, height: 40, data }, 28, out, 0);
    expect(box).toEqual({ x: 22.5, y: 2.5, width: 35, height: 35 });
    // The edge at source x=40 lands in the middle of the output: 14 dark columns, 14 bright ones.
    const rgb = denormalizeToRgb(out, 0, 28);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = rgb[(y * 28 + x) * 3]!;
        if (x < 13) expect(v).toBe(0);
        if (x > 14) expect(v).toBe(255);
      }
    }
  });

  it('portrait images crop vertically; output is deterministic and normalised', () => {
    const image = testImage(40, 80);
    const a = new Float32Array(2 * 28 * 28 * 3);
    const box = evalTransform(image, 28, a, 28 * 28 * 3);
    expect(box).toEqual({ x: 2.5, y: 22.5, width: 35, height: 35 });
    const b = new Float32Array(28 * 28 * 3);
    evalTransform(image, 28, b, 0);
    expect(Array.from(a.subarray(28 * 28 * 3))).toEqual(Array.from(b));
    expect(a.subarray(0, 28 * 28 * 3).every((v) => v === 0)).toBe(true);
  });
});

describe('validation', () => {
  const base = defaultAugmentationConfig('v2', 32);
  const image = testImage(8, 8);

  it('accepts the defaults', () => {
    expect(() => { validateAugmentationConfig(defaultAugmentationConfig('v1', 224)); }).not.toThrow();
    expect(() => { validateAugmentationConfig(base); }).not.toThrow();
  });

  it.each([
    [{ scale: [0.5, 0.2] }, 'augmentation.scale: must satisfy 0 < min <= max <= 1, got [0.5, 0.2]'],
    [{ scale: [0, 1] }, 'augmentation.scale: must satisfy 0 < min <= max <= 1, got [0, 1]'],
    [{ ratio: [2, 1] }, 'augmentation.ratio: must satisfy 0 < min <= max, got [2, 1]'],
    [{ hue: 0.6 }, 'augmentation.hue: must be in [0, 0.5], got 0.6'],
    [{ brightness: -0.1 }, 'augmentation.brightness: must be a finite number >= 0, got -0.1'],
    [{ jitterProbability: 1.5 }, 'augmentation.jitterProbability: must be a probability in [0, 1], got 1.5'],
    [{ outputSize: 0 }, 'augmentation.outputSize: must be a positive integer, got 0'],
    [{ outputSize: 3.5 }, 'augmentation.outputSize: must be a positive integer, got 3.5'],
    [{ blurSigma: [0, 2] }, 'augmentation.blurSigma: must satisfy 0 < min <= max, got [0, 2]'],
    [{ preset: 'v3' }, "augmentation.preset: must be 'v1' or 'v2', got v3"],
    [{ preset: 'v1', blurProbability: 0.5 }, "augmentation.blurProbability: must be 0 for preset 'v1'"],
  ])('rejects %j', (override, message) => {
    const config = { ...base, ...override } as unknown as AugmentationConfig;
    expect(() => { validateAugmentationConfig(config); }).toThrow(message);
    expect(() => augment(image, config, new Rng(1), new Float32Array(32 * 32 * 3), 0)).toThrow(message);
  });

  it('rejects bad images and short output buffers', () => {
    const out = new Float32Array(32 * 32 * 3);
    expect(() => augment({ width: 8, height: 8, data: new Uint8Array(10) }, base, new Rng(1), out, 0)).toThrow(/image: data has 10 bytes/);
    expect(() => augment(image, base, new Rng(1), out, 1)).toThrow(/output: need 3072 floats at offset 1/);
    expect(() => evalTransform(image, 32, new Float32Array(5), 0)).toThrow(/output/);
  });
});
