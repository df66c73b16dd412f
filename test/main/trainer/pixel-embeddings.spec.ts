/**
 * The Neighbours view's pixel space (main/trainer/pixel-embeddings.ts) is the same baseline as
 * main/ml/pixel-baseline.ts (the kNN monitor's and the eval harness's), computed without tfjs and
 * block by block: same vectors, within float32 rounding.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../../../main/ml/augment.js';
import { MemoryImageSource } from '../../../main/ml/image-source.js';
import { pixelFeatures, pixelStatistics } from '../../../main/ml/pixel-baseline.js';
import { pixelStatisticsOf, writePixelRows } from '../../../main/trainer/pixel-embeddings.js';
import { mulberry32 } from '../../../shared/mulberry32.js';

function randomImages(count: number, width: number, height: number, seed: number): RgbImage[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
    return { width, height, data };
  });
}

describe('pixel embeddings of a folder', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('match the pixel baseline: standardised with the folder statistics, L2-normalised', async () => {
    // 1,100 images: more than one block of 512, so the two-pass blockwise sums are exercised.
    const images = randomImages(1100, 20, 18, 7);
    images[5] = { ...images[5]!, data: new Uint8Array(20 * 18 * 3).fill(128) };
    const size = 8;
    const statistics = await pixelStatisticsOf(new MemoryImageSource(images), size);
    const mine = new Float32Array(images.length * size * size * 3);
    writePixelRows(images.slice(0, 600), statistics, mine, 0);
    writePixelRows(images.slice(600), statistics, mine, 600);

    const reference = pixelStatistics(images, size);
    const expected = pixelFeatures(images, size, reference);
    const expectedValues = await expected.data();
    const mean = await reference.mean.data();
    tf.dispose([reference.mean, reference.std, expected]);

    let worstMean = 0;
    for (let j = 0; j < mean.length; j++) worstMean = Math.max(worstMean, Math.abs(mean[j]! - statistics.mean[j]!));
    expect(worstMean).toBeLessThan(1e-4);
    let worst = 0;
    for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - expectedValues[i]!));
    expect(worst).toBeLessThan(1e-4);
    // Rows are unit length: the cosine kNN of the neighbour index scores them as it scores an encoder's.
    const dim = size * size * 3;
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += mine[dim * 3 + j]! ** 2;
    expect(norm).toBeCloseTo(1, 5);
  });
});
