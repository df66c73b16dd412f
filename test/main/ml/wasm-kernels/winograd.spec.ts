/**
 * Winograd F(2,3) and F(4,3) convolutions on wasm (issue 9) against the cpu backend's direct
 * convolution: the forward conv, its dx (a 3x3 stride-1 conv through the same kernel) and dW
 * (the transposed algorithm), with each tile size forced, on odd sizes, padding 'same', 1 and
 * 'valid', partial tiles and channel counts that are not powers of two. Also: 'auto' picks the
 * tile the measurements chose, no tensor is leaked, and the transforms are really used (the
 * first test fails if the kernel silently falls back to the direct conv).
 *
 * Tolerance: relative to the largest output magnitude, 2e-5 for F(2,3) and 1e-4 for F(4,3)
 * (its constants 1/6, 1/12, 1/24 are inexact in float32 and its points reach +-2, so products
 * grow up to 8x before the output transform); the direct wasm conv is within 1e-6 here.
 */
import '@tensorflow/tfjs'; // registers the gradients
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../helpers/backend.js';
import { gemmRuns } from '../../../../main/ml/wasm-kernels/gemm-module.js';
import { winogradOptions, winogradTile } from '../../../../main/ml/wasm-kernels/winograd.js';
import { copies, relativeError } from './compare.js';
import { values } from './lcg-values.js';

type Pad = 'same' | 'valid' | number;


/** y, dx and dW of one conv on a backend: y = conv(x, f), loss = sum(y * r) for a fixed r. */
async function convAndGradients(backend: 'cpu' | 'wasm', shape: number[], ci: number, co: number, pad: Pad): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(() => {
    const x = tf.tensor4d(values(shape.reduce((p, q) => p * q, 1), 1), shape as [number, number, number, number]);
    const f = tf.tensor4d(values(9 * ci * co, 2), [3, 3, ci, co]);
    const y = tf.conv2d(x, f, 1, pad);
    const r = tf.tensor(values(y.size, 3), y.shape);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad), r)))([x, f]);
    return [y, ...grads];
  });
  const arrays = copies(out);
  tf.dispose(out);
  return arrays;
}

const CASES: { shape: [number, number, number, number]; co: number; pad: Pad }[] = [
  { shape: [2, 8, 8, 8], co: 8, pad: 1 },
  { shape: [3, 7, 9, 12], co: 16, pad: 'same' }, // partial tiles in both directions
  { shape: [1, 9, 6, 8], co: 12, pad: 'valid' },
  { shape: [2, 4, 4, 32], co: 20, pad: 1 }, // fewer tiles than Co: the transposed GEMMs
  { shape: [1, 9, 5, 8], co: 16, pad: 'same' }, // 6 (F4) or 15 (F2) tiles: the assembled GEMM's rows padded to 4
];

describe('Winograd convolution on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm'); // through the product's chooser, which registers our kernels
  });
  afterEach(() => {
    winogradOptions.tile = 'auto';
    winogradOptions.storeTransposedFrom = 1024;
    winogradOptions.ownGemm = true;
  });

  for (const tile of [2, 4] as const) {
    const tolerance = tile === 2 ? 2e-5 : 1e-4;
    for (const [{ shape, co, pad }, ownGemm] of CASES.flatMap((c) => [[c, true], [c, false]] as const)) {
      it(`F(${tile},3) y, dx and dW match cpu on ${ownGemm ? 'the assembled' : "XNNPACK's"} GEMMs: x [${shape.join(',')}] -> ${co}, pad ${pad}`, async () => {
        const reference = await convAndGradients('cpu', shape, shape[3], co, pad);
        winogradOptions.tile = tile;
        winogradOptions.ownGemm = ownGemm;
        const runs = gemmRuns.winogradForward;
        const ours = await convAndGradients('wasm', shape, shape[3], co, pad);
        // y (twice: once more inside tf.grads) and dx (a 3x3 stride-1 conv to Ci channels) on the
        // assembled multiply where its output channels are a multiple of 8.
        expect(gemmRuns.winogradForward - runs).toBe(ownGemm ? (co % 8 === 0 ? 2 : 0) + (shape[3] % 8 === 0 ? 1 : 0) : 0);
        for (let k = 0; k < 3; k++) expect(relativeError(ours[k]!, reference[k]!)).toBeLessThan(tolerance);
        // Not bit-identical to the direct conv: the transforms really ran.
        winogradOptions.tile = 0;
        const direct = await convAndGradients('wasm', shape, shape[3], co, pad);
        expect(relativeError(ours[0]!, direct[0]!)).toBeGreaterThan(0);
      });
    }
  }

  for (const tile of [2, 4] as const) {
    it(`F(${tile},3) dW with V^T stored by the input transform matches cpu`, async () => {
      const reference = await convAndGradients('cpu', [3, 7, 9, 12], 12, 16, 'same');
      winogradOptions.tile = tile;
      winogradOptions.storeTransposedFrom = 0; // every dW stores V^T itself (the CASES above have fewer tiles than the default)
      winogradOptions.ownGemm = false; // the assembled outer products read V as it is
      const ours = await convAndGradients('wasm', [3, 7, 9, 12], 12, 16, 'same');
      expect(relativeError(ours[2]!, reference[2]!)).toBeLessThan(tile === 2 ? 2e-5 : 1e-4);
    });
  }

  it('leaks no tensor or backend buffer', async () => {
    winogradOptions.tile = 4;
    winogradOptions.storeTransposedFrom = 0;
    const both = async (): Promise<void> => {
      await convAndGradients('wasm', [2, 8, 8, 8], 8, 8, 1);
      await convAndGradients('wasm', [2, 4, 4, 32], 32, 20, 1); // the transposed GEMMs
      await convAndGradients('wasm', [1, 9, 5, 8], 8, 16, 'same'); // the assembled GEMMs, padded rows
    };
    await both();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = [tf.memory().numTensors, backend.numDataIds()];
    await both();
    expect([tf.memory().numTensors, backend.numDataIds()]).toEqual(before);
  });

  it("'auto' on the assembled GEMMs takes F(4,3) from 16 input channels; on XNNPACK's it weighs the work per product", () => {
    const info = (n: number, size: number, c: number): tf.backend_util.Conv2DInfo =>
      tf.backend_util.computeConv2DInfo([n, size, size, c], [3, 3, c, c], 1, 1, 1, undefined, false, 'channelsLast');
    const tile = (pass: 'forward' | 'filter', n: number, size: number, c: number): number =>
      winogradTile(pass, ['float32', 'float32'], [3, 3, c, c], info(n, size, c));
    expect(tile('forward', 32, 32, 64)).toBe(4);
    expect(tile('forward', 32, 4, 512)).toBe(4);
    expect(tile('forward', 32, 16, 16)).toBe(4); // width 1/8 at batch 32
    expect(tile('filter', 16, 4, 64)).toBe(4);
    expect(tile('forward', 1, 4, 64)).toBe(0); // one image at 4x4: one tile, the GEMM rows mostly padding
    expect(tile('forward', 32, 32, 8)).toBe(0); // width 1/8's first layers: 8 channels
    expect(tile('filter', 32, 32, 8)).toBe(0);
    expect(tile('forward', 16, 16, 12)).toBe(0); // Co not a multiple of 8: XNNPACK's GEMMs, too little work
    winogradOptions.tile = 4;
    expect(tile('forward', 0, 8, 8)).toBe(0); // an empty batch never reaches the module, even forced
    winogradOptions.tile = 'auto';
    winogradOptions.ownGemm = false;
    expect(tile('forward', 32, 4, 512)).toBe(4); // 32 tiles of F(4,3): the GEMMs run transposed
    expect(tile('filter', 32, 4, 512)).toBe(4); // dW packs dy's planes, not the filter's
    expect(tile('forward', 16, 32, 8)).toBe(0);
    expect(tile('forward', 32, 16, 16)).toBe(0); // width 1/8 at batch 32: 37.7 MFLOP, too little
    expect(tile('forward', 16, 16, 32)).toBe(2); // width 1/4 at batch 16: 75 MFLOP
    expect(tile('filter', 16, 16, 32)).toBe(4);
    winogradOptions.ownGemm = true;
    expect(winogradTile('forward', ['float32', 'float32'], [3, 3, 3, 64], info(32, 32, 3))).toBe(0); // the stem: 3 channels
    const strided = tf.backend_util.computeConv2DInfo([32, 32, 32, 64], [3, 3, 64, 64], 2, 1, 1, undefined, false, 'channelsLast');
    expect(winogradTile('forward', ['float32', 'float32'], [3, 3, 64, 64], strided)).toBe(0);
  });
});
