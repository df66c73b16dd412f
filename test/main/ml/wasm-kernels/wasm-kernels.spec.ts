/**
 * The wasm training kernels against the cpu backend (the reference), on small shapes.
 * Inputs are generated once as plain arrays, each backend computes from them, and the results
 * are compared elementwise as arrays.
 *
 * Tolerances (max abs error, values ~U(-0.5, 0.5), sums of at most a few hundred products):
 *   conv dx 1e-4, conv dW 5e-4 (dW sums over N*Ho*Wo products, so it carries more float32
 *   rounding), matMul 1e-4, Slice/SplitV/Identity exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
} from '../../../../main/ml/wasm-kernels/index.js';
import { dWOptions } from '../../../../main/ml/wasm-kernels/conv2d-backprop-filter.js';
import { conv2dOptions } from '../../../../main/ml/wasm-kernels/conv2d.js';
import { gemmRuns } from '../../../../main/ml/wasm-kernels/gemm-module.js';
import { values } from './lcg-values.js';

const DX_TOL = 1e-4;
const DW_TOL = 5e-4;
const MM_TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs `f` on a backend inside a tidy and returns its outputs as arrays. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(f).map((t) => {
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return Float32Array.from(v);
  });
}

type Pad = 'same' | 'valid' | number;

interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: Pad;
}

const SIZE = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** dx and dW through the kernels that tf.conv2d's gradient calls, with the same attrs. */
function convGrads(c: ConvCase, xs: Float32Array, ws: Float32Array, dys: Float32Array, dyShape: number[]): tf.Tensor[] {
  const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.ci];
  const wShape: [number, number, number, number] = [c.k, c.k, c.ci, c.co];
  const x = tf.tensor4d(xs, xShape);
  const w = tf.tensor4d(ws, wShape);
  const dy = tf.tensor(dys, dyShape);
  const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC' };
  // conv2dTranspose is the public op for Conv2DBackpropInput; dW has no public op in
  // tfjs-core without the umbrella's gradients, so it goes through the engine.
  const dx = tf.conv2dTranspose(dy as tf.Tensor4D, w, xShape, c.s, c.pad as 'same' | 'valid');
  const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: wShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
  return [dx, dW];
}

const CONV_CASES: ConvCase[] = [
  { n: 1, h: 5, w: 5, ci: 3, co: 4, k: 3, s: 1, pad: 'same' },
  { n: 2, h: 6, w: 6, ci: 4, co: 3, k: 3, s: 1, pad: 'valid' },
  { n: 2, h: 8, w: 8, ci: 3, co: 5, k: 3, s: 2, pad: 'same' },
  { n: 3, h: 7, w: 9, ci: 2, co: 4, k: 3, s: 2, pad: 'same' },
  { n: 2, h: 7, w: 7, ci: 4, co: 2, k: 3, s: 2, pad: 'valid' },
  { n: 2, h: 8, w: 8, ci: 4, co: 6, k: 1, s: 1, pad: 'valid' },
  { n: 2, h: 8, w: 8, ci: 4, co: 6, k: 1, s: 2, pad: 'same' },
  { n: 1, h: 9, w: 9, ci: 3, co: 4, k: 1, s: 2, pad: 'valid' },
  { n: 2, h: 11, w: 11, ci: 3, co: 4, k: 7, s: 2, pad: 'same' },
  { n: 1, h: 12, w: 12, ci: 3, co: 2, k: 7, s: 2, pad: 'valid' },
  { n: 2, h: 9, w: 9, ci: 2, co: 3, k: 7, s: 1, pad: 'same' },
  { n: 2, h: 6, w: 6, ci: 3, co: 3, k: 4, s: 1, pad: 'same' },
  { n: 2, h: 9, w: 9, ci: 3, co: 4, k: 3, s: 2, pad: 1 },
  { n: 1, h: 10, w: 10, ci: 2, co: 3, k: 3, s: 3, pad: 'same' },
];

describe('wasm training kernels vs cpu', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    expect(registerWasmTrainingKernels()).toEqual(
      expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'Identity', 'Slice', 'SplitV']),
    );
  });

  it('registration is idempotent and replaces the stock kernels', () => {
    const first = tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc;
    const names = registerWasmTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc).toBe(first);
    expect(names).toContain('Conv2DBackpropFilter');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  for (const c of CONV_CASES) {
    const label = `conv ${c.k}x${c.k} s${c.s} pad=${c.pad} x[${c.n},${c.h},${c.w},${c.ci}] -> ${c.co}`;
    it(`dx and dW match cpu: ${label}`, async () => {
      const seed = c.n * 1000 + c.h * 100 + c.k * 10 + c.s;
      const xs = values(c.n * c.h * c.w * c.ci, seed);
      const ws = values(c.k * c.k * c.ci * c.co, seed + 1);
      await tf.setBackend('cpu');
      const dyShape = tf.tidy(() =>
        tf.conv2d(tf.zeros([c.n, c.h, c.w, c.ci]) as tf.Tensor4D, tf.zeros([c.k, c.k, c.ci, c.co]) as tf.Tensor4D, c.s, c.pad as 'same').shape,
      );
      const dys = values(SIZE(dyShape), seed + 2);
      const [dxCpu, dwCpu] = await on('cpu', () => convGrads(c, xs, ws, dys, dyShape));
      const [dxWasm, dwWasm] = await on('wasm', () => convGrads(c, xs, ws, dys, dyShape));
      expect(maxAbsDiff(dxWasm!, dxCpu!)).toBeLessThanOrEqual(DX_TOL);
      expect(maxAbsDiff(dwWasm!, dwCpu!)).toBeLessThanOrEqual(DW_TOL);
      // dW has two routes (im2col GEMM for bounded P, dilated conv beyond): check the other too.
      const saved = dWOptions.gemmMaxElements;
      dWOptions.gemmMaxElements = 0;
      try {
        const [, dwConv] = await on('wasm', () => convGrads(c, xs, ws, dys, dyShape));
        expect(maxAbsDiff(dwConv!, dwCpu!)).toBeLessThanOrEqual(DW_TOL);
      } finally {
        dWOptions.gemmMaxElements = saved;
      }
      // The GEMM route in chunks of one image each (summed), as it runs on large batches.
      const { chunkColumns, chunkMinPixels } = dWOptions;
      dWOptions.chunkColumns = 1;
      dWOptions.chunkMinPixels = 1;
      try {
        const [, dwChunked] = await on('wasm', () => convGrads(c, xs, ws, dys, dyShape));
        expect(maxAbsDiff(dwChunked!, dwCpu!)).toBeLessThanOrEqual(DW_TOL);
      } finally {
        Object.assign(dWOptions, { chunkColumns, chunkMinPixels });
      }
      // Not all zeros by accident (a kernel that wrote nothing would match a zero gradient).
      expect(Math.max(...dxCpu!.map(Math.abs))).toBeGreaterThan(1e-3);
    });
  }

  const MM_CASES: { a: number[]; b: number[]; tA: boolean; tB: boolean }[] = [
    { a: [5, 7], b: [7, 3], tA: false, tB: false },
    { a: [7, 5], b: [7, 3], tA: true, tB: false },
    { a: [5, 7], b: [3, 7], tA: false, tB: true },
    { a: [7, 5], b: [3, 7], tA: true, tB: true },
    { a: [2, 4, 6], b: [6, 3], tA: false, tB: false }, // batched A, broadcast B
    { a: [2, 6, 4], b: [1, 3, 6], tA: true, tB: true },
    { a: [3, 4, 6], b: [3, 6, 5], tA: false, tB: false }, // batched B: stock fallback
    { a: [4, 6], b: [2, 5, 6], tA: false, tB: true }, // broadcast A over batched B
    // On the assembled GEMM (rows of the product a multiple of 4, columns of 8):
    { a: [8, 12], b: [12, 16], tA: false, tB: false },
    { a: [12, 8], b: [12, 16], tA: true, tB: false },
    { a: [16, 12], b: [8, 12], tA: false, tB: true }, // C^T = B A^T: B read as it is
    { a: [12, 16], b: [8, 12], tA: true, tB: true },
    { a: [2, 8, 12], b: [12, 16], tA: false, tB: false }, // batched A folded into M
    { a: [2, 8, 12], b: [16, 12], tA: false, tB: true },
    { a: [8, 64], b: [64, 256], tA: false, tB: false }, // l_neg = q queue, scaled down
    { a: [8, 256], b: [64, 256], tA: false, tB: true }, // and its dq
    { a: [8, 12], b: [1, 12, 16], tA: false, tB: false }, // a batch of one B
    { a: [12, 16], b: [8, 16], tA: false, tB: true }, // C^T's columns (M = 12) not a multiple of 8: XNNPACK
  ];
  const ownGemm = (m: { a: number[]; b: number[]; tA: boolean; tB: boolean }): boolean => {
    const rows = m.tA ? m.a[m.a.length - 1]! : m.a.slice(0, -1).reduce((p, q) => p * q, 1);
    const cols = m.tB ? m.b[m.b.length - 2]! : m.b[m.b.length - 1]!;
    const [r, c] = m.tB ? [cols, rows] : [rows, cols];
    const batchB = m.b.slice(0, -2).reduce((p, q) => p * q, 1);
    return batchB === 1 && !(m.tA && m.a.length > 2) && r % 4 === 0 && c % 8 === 0;
  };
  for (const m of MM_CASES) {
    it(`BatchMatMul matches cpu: ${JSON.stringify(m.a)} x ${JSON.stringify(m.b)} tA=${m.tA} tB=${m.tB}`, async () => {
      const as = values(SIZE(m.a), 11);
      const bs = values(SIZE(m.b), 12);
      const f = (): tf.Tensor[] => [tf.matMul(tf.tensor(as, m.a), tf.tensor(bs, m.b), m.tA, m.tB)];
      const [cpu] = await on('cpu', f);
      await tf.setBackend('wasm');
      const shape = tf.tidy(() => tf.matMul(tf.tensor(as, m.a), tf.tensor(bs, m.b), m.tA, m.tB).shape);
      const runs = gemmRuns.matmul;
      const [wasm] = await on('wasm', f);
      expect(gemmRuns.matmul - runs).toBe(ownGemm(m) ? 1 : 0);
      await tf.setBackend('cpu');
      const cpuShape = tf.tidy(() => tf.matMul(tf.tensor(as, m.a), tf.tensor(bs, m.b), m.tA, m.tB).shape);
      expect(shape).toEqual(cpuShape);
      expect(maxAbsDiff(wasm!, cpu!)).toBeLessThanOrEqual(MM_TOL);
    });
  }

  it('Conv2D in blocks of output channels is bit-identical to the stock kernel and matches cpu', async () => {
    const cases: ConvCase[] = [
      { n: 2, h: 6, w: 6, ci: 3, co: 8, k: 3, s: 1, pad: 'same' },
      { n: 2, h: 7, w: 7, ci: 4, co: 12, k: 3, s: 2, pad: 1 },
    ];
    const saved = { ...conv2dOptions };
    Object.assign(conv2dOptions, { blockChannels: 4, minReduction: 1 });
    try {
      for (const c of cases) {
        const xs = values(c.n * c.h * c.w * c.ci, 7);
        const ws = values(c.k * c.k * c.ci * c.co, 8);
        const conv = (): tf.Tensor[] => [tf.conv2d(tf.tensor4d(xs, [c.n, c.h, c.w, c.ci]), tf.tensor4d(ws, [c.k, c.k, c.ci, c.co]), c.s, c.pad as 'same')];
        const [cpu] = await on('cpu', conv);
        const [blocked] = await on('wasm', conv);
        unregisterWasmTrainingKernels();
        const [stock] = await on('wasm', conv);
        registerWasmTrainingKernels();
        expect(Array.from(blocked!)).toEqual(Array.from(stock!));
        expect(maxAbsDiff(blocked!, cpu!)).toBeLessThanOrEqual(DX_TOL);
        expect(blocked!.some((v) => v !== 0)).toBe(true);
      }
    } finally {
      Object.assign(conv2dOptions, saved);
    }
  });

  it('Slice and SplitV match cpu exactly (float32 and int32)', async () => {
    const xs = values(3 * 5 * 4 * 6, 21);
    const f = (): tf.Tensor[] => {
      const x = tf.tensor4d(xs, [3, 5, 4, 6]);
      const xi = tf.cast(tf.mul(x, 100), 'int32');
      return [
        tf.slice(x, [1, 0, 0, 0], [2, 5, 4, 6]),
        tf.slice(x, [0, 1, 2, 3], [3, 3, 2, 2]),
        tf.slice(x, [2, 4, 3, 5], [1, 1, 1, 1]),
        tf.cast(tf.slice(xi, [0, 2, 0, 1], [2, 2, 4, 4]), 'float32'),
        ...tf.split(x, [1, 2], 0),
        ...tf.split(x, 3, 3),
        ...tf.split(x, [1, 3], 2),
      ];
    };
    const cpu = await on('cpu', f);
    const wasm = await on('wasm', f);
    expect(wasm.length).toBe(cpu.length);
    cpu.forEach((c, i) => {
      expect(Array.from(wasm[i]!)).toEqual(Array.from(c));
    });
  });

  it('Identity shares the buffer and survives disposal in either order', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = backend.numDataIds();
    const x = tf.tensor([1, 2, 3, 4]);
    const y = tf.clone(x); // Identity
    expect(backend.numDataIds()).toBe(before + 1); // no second buffer
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    const z = tf.clone(y);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual([1, 2, 3, 4]);
    z.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  it('does not leak tensors or heap buffers across repeated calls', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor4d(values(2 * 9 * 9 * 3, 31), [2, 9, 9, 3]);
    const w = tf.tensor4d(values(3 * 3 * 3 * 4, 32), [3, 3, 3, 4]);
    const a = tf.tensor2d(values(6 * 5, 33), [6, 5]);
    const q = tf.tensor2d(values(8 * 8, 34), [8, 8]);
    const step = (): void => {
      tf.tidy(() => {
        for (const [s, pad] of [[1, 'same'], [2, 'same'], [2, 'valid']] as const) {
          const y = tf.conv2d(x, w, s, pad);
          const dy = tf.onesLike(y);
          tf.conv2dTranspose(dy, w, x.shape, s, pad);
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad, dataFormat: 'NHWC', filterShape: w.shape });
        }
        tf.matMul(a, a, true, false);
        tf.matMul(a, a, false, true);
        tf.matMul(q, q, false, true); // the assembled GEMM, C^T = B A^T
        tf.matMul(q, q, true, false); // the assembled GEMM, A transposed
        tf.split(x, [1, 1], 0);
        tf.slice(x, [0, 1, 1, 0], [2, 3, 3, 3]);
        tf.clone(x);
      });
    };
    step(); // warm-up (XNNPACK operators, lazily created state)
    const tensors = tf.memory().numTensors;
    const ids = backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(ids);
    tf.dispose([x, w, a, q]);
  });

  it('unregister puts the stock kernels back, register installs ours again', () => {
    const ours = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    expect(unregisterWasmTrainingKernels()).toContain('BatchMatMul');
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).not.toBe(ours);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    registerWasmTrainingKernels();
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(ours);
  });
});
