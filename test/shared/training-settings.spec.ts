import { describe, expect, it } from 'vitest';
import { parseTrainingSettings, resolveSettings } from '../../shared/training-settings.js';

describe('training settings', () => {
  it('chooses safe defaults for a folder of a few dozen images and says why', () => {
    const { settings, reasons, adjustments } = resolveSettings({}, 40, 'wasm');
    expect(settings.batchSize).toBeLessThanOrEqual(20); // at most half the folder: >= 2 steps per epoch
    expect(settings.queueSize % settings.batchSize).toBe(0);
    expect(settings.queueSize).toBeLessThanOrEqual(20); // K well below the 40 images
    expect(settings.batchSize % settings.bnSplits).toBe(0);
    expect(settings.bnSplits).toBeGreaterThanOrEqual(2); // shuffling keys must change BN groups
    expect(settings.imageSize).toBe(32);
    expect(settings.smallImageStem).toBe(true);
    expect(adjustments).toEqual([]);
    for (const field of ['batchSize', 'queueSize', 'imageSize', 'epochs', 'preset', 'learningRate', 'keyMomentum', 'temperature'] as const) {
      expect(reasons[field], field).toMatch(/\w/);
    }
  });

  it('trains the CPU recipe of issue 10 on small images: width 1/8, about 1,400 steps, crops of 60-100 %, no colour jitter', () => {
    // The held-out clip-art folder's size (449 images) and a 2,000-image folder: the step target holds for both.
    for (const images of [449, 2000]) {
      const { settings, reasons } = resolveSettings({}, images, 'wasm', 2);
      const steps = settings.epochs * Math.floor(images / settings.batchSize);
      expect(settings).toMatchObject({ widthMultiplier: 0.125, imageSize: 32, cropScale: 0.6, jitterStrength: 0, temperature: 0.1, head: 'linear' });
      expect(steps).toBeGreaterThanOrEqual(1300);
      expect(steps).toBeLessThanOrEqual(1500);
      expect(reasons.jitterStrength).toMatch(/colour/);
    }
    // Larger images and the GPU keep v2's views and full width.
    expect(resolveSettings({ imageSize: 64 }, 2000, 'wasm', 2).settings).toMatchObject({ cropScale: 0.2, jitterStrength: 1 });
    expect(resolveSettings({}, 2000, 'webgpu').settings).toMatchObject({ widthMultiplier: 1, imageSize: 64, cropScale: 0.2, jitterStrength: 1 });
  });

  it('uses the reference values where the folder is large and a GPU is there', () => {
    const { settings } = resolveSettings({ preset: 'v2', imageSize: 224 }, 200_000, 'tensorflow');
    expect(settings).toMatchObject({ batchSize: 128, queueSize: 65536, keyMomentum: 0.999, temperature: 0.2, head: 'mlp', smallImageStem: false, widthMultiplier: 1, bnSplits: 8 });
  });

  it('adjusts a queue size that is not a multiple of the batch or too large, naming the change', () => {
    const { settings, adjustments } = resolveSettings({ batchSize: 16, queueSize: 100 }, 1000, 'wasm');
    expect(settings.queueSize).toBe(96);
    expect(adjustments).toEqual([expect.objectContaining({ field: 'queueSize', from: 100, to: 96, reason: expect.stringMatching(/multiple of the batch size 16/) as unknown })]);
    const large = resolveSettings({ batchSize: 16, queueSize: 4096 }, 100, 'wasm');
    expect(large.settings.queueSize).toBe(48);
    expect(large.adjustments[0]?.reason).toMatch(/well below the 100 images/);
  });

  it('warns when the batch defeats Shuffle BN or forces K above half the folder', () => {
    expect(resolveSettings({ batchSize: 9 }, 100, 'wasm').warnings).toEqual([expect.stringMatching(/Shuffle BN is inactive/)]);
    expect(resolveSettings({ batchSize: 32 }, 40, 'wasm').warnings).toEqual([expect.stringMatching(/K=32 is more than half of the 40 images/)]);
    expect(resolveSettings({}, 400, 'wasm').warnings).toEqual([]);
  });

  it('refuses a batch larger than the folder and a folder with fewer than 2 images', () => {
    expect(() => resolveSettings({ batchSize: 64 }, 30, 'wasm')).toThrow(/batchSize: 64 is more than the 30 usable images/);
    expect(() => resolveSettings({}, 1, 'wasm')).toThrow(/1 usable image; MoCo needs at least 2/);
  });

  it('validates untrusted settings naming each bad field', () => {
    expect(() => parseTrainingSettings({ epochs: 0, keyMomentum: 1.5 })).toThrow(/epochs: .*; keyMomentum: /);
    expect(() => parseTrainingSettings({ architecture: 'vgg16' })).toThrow(/architecture/);
    expect(() => parseTrainingSettings({ surprise: true })).toThrow(/surprise|Unrecognized/);
    expect(parseTrainingSettings({ epochs: 3, preset: 'v1' })).toEqual({ epochs: 3, preset: 'v1' });
  });
});
