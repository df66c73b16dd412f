/**
 * dW by outer products of pixels (direct-dw.ts, on gemm-module.ts) against the cpu
 * backend: strides 1 to 3, padding 'same', 'valid', numbers and explicit asymmetric pads, 1x1,
 * 3x3, 7x7 and even 4x4 filters, 'valid' windows that leave rows of x unread, and blocks of
 * images that do not divide the batch. Also: the route is really taken (counted: a GEMM over the
 * same rows in the same order can round identically), Winograd's dW on outer products matches,
 * and nothing leaks.
 */
import '@tensorflow/tfjs'; // registers the gradients
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../helpers/backend.js';
import { directDwApplies, directDwOptions } from '../../../../main/ml/wasm-kernels/direct-dw.js';
import { gemmRuns } from '../../../../main/ml/wasm-kernels/gemm-module.js';
import { winogradOptions } from '../../../../main/ml/wasm-kernels/winograd.js';
import { relativeError } from './compare.js';
import { values } from './lcg-values.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case { x: [number, number, number, number]; kh: number; kw: number; co: number; s: number; pad: Pad }

const CASES: Case[] = [
  { x: [3, 8, 8, 4], kh: 3, kw: 3, co: 8, s: 1, pad: 'same' },
  { x: [2, 9, 7, 8], kh: 3, kw: 3, co: 16, s: 2, pad: 'same' },
  { x: [2, 9, 9, 4], kh: 3, kw: 3, co: 8, s: 2, pad: 'valid' }, // the last row and column of x are never read
  { x: [2, 8, 8, 12], kh: 1, kw: 1, co: 8, s: 2, pad: 'same' },
  { x: [1, 11, 11, 4], kh: 7, kw: 7, co: 8, s: 2, pad: 3 },
  { x: [2, 6, 6, 4], kh: 4, kw: 4, co: 8, s: 1, pad: 'same' },
  { x: [2, 10, 10, 8], kh: 3, kw: 3, co: 8, s: 3, pad: 1 },
  { x: [2, 7, 6, 4], kh: 3, kw: 2, co: 8, s: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
  { x: [2, 1, 5, 4], kh: 3, kw: 3, co: 8, s: 1, pad: 'same' }, // one row: the taps above and below read only padding
];

const label = (c: Case): string => `x [${c.x.join(',')}] ${c.kh}x${c.kw}/${c.s} -> ${c.co}, pad ${JSON.stringify(c.pad)}`;

/** dW through the kernel that tf.conv2d's gradient calls. */
async function filterGradient(backend: 'cpu' | 'wasm', c: Case): Promise<Float32Array> {
  await tf.setBackend(backend);
  const seed = c.x.reduce((a, b) => a * 7 + b, c.kh * 31 + c.s);
  const dw = tf.tidy(() => {
    const x = tf.tensor4d(values(c.x.reduce((a, b) => a * b, 1), seed), c.x);
    const filterShape: [number, number, number, number] = [c.kh, c.kw, c.x[3], c.co];
    const yShape = tf.conv2d(x, tf.zeros(filterShape), c.s, c.pad).shape;
    const dy = tf.tensor(values(yShape.reduce((a, b) => a * b, 1), seed + 1), yShape);
    return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
  });
  const out = Float32Array.from(dw.dataSync() as Float32Array);
  dw.dispose();
  return out;
}


describe('dW by outer products on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm'); // through the product's chooser, which registers our kernels
  });
  afterEach(() => {
    Object.assign(directDwOptions, { enabled: true, blockPositions: 256, blockBytes: 256 * 1024 });
    Object.assign(winogradOptions, { tile: 'auto', ownGemm: true, outerProductRows: 256 });
  });

  for (const c of CASES) {
    it(`matches cpu, in one block and in blocks of one image: ${label(c)}`, async () => {
      winogradOptions.tile = 0; // the 3x3 stride-1 cases would otherwise go to Winograd
      const reference = await filterGradient('cpu', c);
      expect(Math.max(...reference.map(Math.abs))).toBeGreaterThan(1e-3);
      const runs = gemmRuns.directDw;
      const whole = await filterGradient('wasm', c);
      expect(relativeError(whole, reference)).toBeLessThan(2e-6);
      directDwOptions.blockPositions = 1;
      const blocked = await filterGradient('wasm', c);
      expect(relativeError(blocked, reference)).toBeLessThan(2e-6);
      expect(gemmRuns.directDw).toBe(runs + 2);
      directDwOptions.enabled = false;
      await filterGradient('wasm', c);
      expect(gemmRuns.directDw).toBe(runs + 2);
    });
  }

  it('applies to float32 with Ci a multiple of 4 and Co of 8 only', () => {
    const info = (ci: number, co: number): tf.backend_util.Conv2DInfo =>
      tf.backend_util.computeConv2DInfo([2, 8, 8, ci], [3, 3, ci, co], 1, 1, 'same', undefined, false, 'channelsLast');
    expect(directDwApplies(['float32', 'float32'], info(4, 8))).toBe(true);
    expect(directDwApplies(['float32', 'float32'], info(3, 8))).toBe(false); // the stem
    expect(directDwApplies(['float32', 'float32'], info(4, 12))).toBe(false);
    expect(directDwApplies(['int32', 'float32'], info(4, 8))).toBe(false);
    expect(directDwApplies(['float32', 'float32'], info(4, 0))).toBe(false); // no output channels: the kernel's loops would still run once
  });

  it("Winograd's dW on outer products matches cpu and the XNNPACK GEMMs, in blocks of tiles", async () => {
    const c: Case = { x: [3, 10, 9, 16], kh: 3, kw: 3, co: 24, s: 1, pad: 'same' };
    const reference = await filterGradient('cpu', c);
    winogradOptions.tile = 4;
    winogradOptions.outerProductRows = 5; // 3 x 3 x 3 = 27 tiles: blocks that do not divide them
    const runs = gemmRuns.winogradDw;
    const outer = await filterGradient('wasm', c);
    expect(gemmRuns.winogradDw).toBe(runs + 1);
    expect(relativeError(outer, reference)).toBeLessThan(1e-4);
    winogradOptions.ownGemm = false;
    const gemm = await filterGradient('wasm', c);
    expect(gemmRuns.winogradDw).toBe(runs + 1);
    expect(relativeError(gemm, reference)).toBeLessThan(1e-4);
  });

  it('leaks no tensor and no backend buffer', async () => {
    const c = CASES[1]!;
    await filterGradient('wasm', c); // warm-up
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { dataIdMap: { numDataIds(): number } };
    const tensors = tf.memory().numTensors;
    const buffers = backend.dataIdMap.numDataIds();
    for (let i = 0; i < 3; i++) await filterGradient('wasm', c);
    await filterGradient('wasm', { x: [3, 10, 9, 16], kh: 3, kw: 3, co: 24, s: 1, pad: 'same' }); // Winograd on outer products
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.dataIdMap.numDataIds()).toBe(buffers);
  });
});
