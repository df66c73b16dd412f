/**
 * Micro-benchmark of the wasm training kernels (main/ml/wasm-kernels) against the stock wasm
 * kernels, on ResNet-18 (small CIFAR stem, full width 64..512) layer shapes at batch 32 and
 * 32x32 input. Prints one JSON document.
 *
 *   npx tsx main/bench/kernels.ts            # everything
 *   npx tsx main/bench/kernels.ts --quick    # skip the slow stock conv-backward timings
 *
 * Each timing is the median of a few runs after one warm-up, in CPU time of this process (see
 * cpuMs: wasm kernels run synchronously on this thread). `conv2dBlocks` and `dWChunks` A/B
 * issue 9's blocked Conv2D and chunked dW against one stock call, interleaved. GFLOP/s counts 2 FLOPs per
 * multiply-add of the mathematical op (dx and dW of a conv have the forward conv's FLOPs).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { dWOptions } from '../ml/wasm-kernels/conv2d-backprop-filter.js';
import { conv2dOptions } from '../ml/wasm-kernels/conv2d.js';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
} from '../ml/wasm-kernels/index.js';

const QUICK = process.argv.includes('--quick');
const BATCH = 32;

interface ConvLayer {
  name: string;
  h: number; // input height = width
  cin: number;
  cout: number;
  k: number;
  stride: number;
}

/** Distinct conv shapes of ResNet-18 with a 3x3 stride-1 stem at 32x32 ('same' padding). */
const LAYERS: ConvLayer[] = [
  { name: 'stem 3x3 3->64 @32', h: 32, cin: 3, cout: 64, k: 3, stride: 1 },
  { name: 'layer1 3x3 64->64 @32', h: 32, cin: 64, cout: 64, k: 3, stride: 1 },
  { name: 'layer2 entry 3x3 64->128 s2 @32', h: 32, cin: 64, cout: 128, k: 3, stride: 2 },
  { name: 'layer2 3x3 128->128 @16', h: 16, cin: 128, cout: 128, k: 3, stride: 1 },
  { name: 'layer2 down 1x1 64->128 s2 @32', h: 32, cin: 64, cout: 128, k: 1, stride: 2 },
  { name: 'layer3 entry 3x3 128->256 s2 @16', h: 16, cin: 128, cout: 256, k: 3, stride: 2 },
  { name: 'layer3 3x3 256->256 @8', h: 8, cin: 256, cout: 256, k: 3, stride: 1 },
  { name: 'layer3 down 1x1 128->256 s2 @16', h: 16, cin: 128, cout: 256, k: 1, stride: 2 },
  { name: 'layer4 entry 3x3 256->512 s2 @8', h: 8, cin: 256, cout: 512, k: 3, stride: 2 },
  { name: 'layer4 3x3 512->512 @4', h: 4, cin: 512, cout: 512, k: 3, stride: 1 },
  { name: 'layer4 down 1x1 256->512 s2 @8', h: 8, cin: 256, cout: 512, k: 1, stride: 2 },
];

/** How many times each shape occurs in one ResNet-18 forward pass. */
const COUNT_IN_RESNET18: Record<string, number> = {
  'stem 3x3 3->64 @32': 1,
  'layer1 3x3 64->64 @32': 4,
  'layer2 entry 3x3 64->128 s2 @32': 1,
  'layer2 3x3 128->128 @16': 3,
  'layer2 down 1x1 64->128 s2 @32': 1,
  'layer3 entry 3x3 128->256 s2 @16': 1,
  'layer3 3x3 256->256 @8': 3,
  'layer3 down 1x1 128->256 s2 @16': 1,
  'layer4 entry 3x3 256->512 s2 @8': 1,
  'layer4 3x3 512->512 @4': 3,
  'layer4 down 1x1 256->512 s2 @8': 1,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Milliseconds of CPU time this process has used. wasm kernels run on this one thread, so the CPU
 * time around a kernel is its compute time; unlike wall time it does not count the time other
 * processes hold the core (the shared machines run at load 10-20), so runs at different loads
 * compare (PyTorch's figures, main/bench/conv_torch.py, are CPU time too).
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Median CPU ms of `f` (which returns the tensors to dispose) after one warm-up run. */
function time(f: () => tf.Tensor | tf.Tensor[], reps: number): number {
  tf.dispose(f());
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = cpuMs();
    const out = f();
    ms.push(cpuMs() - t0);
    tf.dispose(out);
  }
  return median(ms);
}

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;
const gflops = (flop: number, ms: number): number => round(flop / ms / 1e6);

function convBench(layer: ConvLayer): Record<string, unknown> {
  const { h, cin, cout, k, stride } = layer;
  const x = tf.randomNormal<tf.Rank.R4>([BATCH, h, h, cin]);
  const w = tf.randomNormal<tf.Rank.R4>([k, k, cin, cout]);
  const y = tf.conv2d(x, w, stride, 'same');
  const dy = tf.randomNormal(y.shape);
  const ho = y.shape[1];
  const flop = 2 * BATCH * ho * ho * cout * k * k * cin;
  const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC' };
  const fwd = (): tf.Tensor => tf.conv2d(x, w, stride, 'same');
  const dx = (): tf.Tensor =>
    tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape });
  const dW = (): tf.Tensor =>
    tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape });
  const reps = flop > 1e9 ? 3 : 5;

  const forwardMs = time(fwd, reps);
  registerWasmTrainingKernels();
  const dxOursMs = time(dx, reps);
  const dWOursMs = time(dW, reps);
  unregisterWasmTrainingKernels();
  const dxStockMs = QUICK ? null : time(dx, 1);
  registerWasmTrainingKernels();
  tf.dispose([x, w, y, dy]);
  return {
    layer: layer.name,
    gflop: round(flop / 1e9, 3),
    forward: { ms: round(forwardMs), gflops: gflops(flop, forwardMs) },
    dx: {
      stock: dxStockMs === null ? null : { ms: round(dxStockMs), gflops: gflops(flop, dxStockMs) },
      ours: { ms: round(dxOursMs), gflops: gflops(flop, dxOursMs) },
      oursVsForward: round(dxOursMs / forwardMs),
    },
    dW: {
      stock: 'not registered on wasm (training fails)',
      ours: { ms: round(dWOursMs), gflops: gflops(flop, dWOursMs) },
      oursVsForward: round(dWOursMs / forwardMs),
    },
  };
}

/**
 * dW in one GEMM against chunks of whole images (dWOptions.chunkColumns, issue 9), interleaved
 * in this process so that both see the same load: the layers whose N*Ho*Wo exceeds a chunk.
 */
function dWChunkBench(layer: ConvLayer): Record<string, unknown> {
  const { h, cin, cout, k, stride } = layer;
  const x = tf.randomNormal<tf.Rank.R4>([BATCH, h, h, cin]);
  const dy = tf.randomNormal<tf.Rank.R4>([BATCH, h / stride, h / stride, cout]);
  const dW = (): tf.Tensor =>
    tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, cin, cout] });
  const { chunkColumns, chunkMinPixels } = dWOptions;
  const single: number[] = [];
  const chunks: number[] = [];
  for (let r = 0; r < 3; r++) {
    dWOptions.chunkColumns = Number.POSITIVE_INFINITY;
    single.push(time(dW, 1));
    Object.assign(dWOptions, { chunkColumns, chunkMinPixels: 1 });
    chunks.push(time(dW, 1));
    dWOptions.chunkMinPixels = chunkMinPixels;
  }
  tf.dispose([x, dy]);
  return { layer: layer.name, singleGemmMs: round(median(single)), chunkedMs: round(median(chunks)), chunkColumns, usedInTraining: (h / stride) ** 2 >= chunkMinPixels };
}

/**
 * Forward Conv2D with output channels in blocks (conv2dOptions, issue 9) against one stock call,
 * interleaved, each call with a fresh filter as in training (SGD or the momentum update changes
 * every filter every step, so XNNPACK repacks it every call).
 */
function conv2dBlockBench(layer: ConvLayer): Record<string, unknown> {
  const { h, cin, cout, k, stride } = layer;
  const x = tf.randomNormal<tf.Rank.R4>([BATCH, h, h, cin]);
  const w0 = tf.randomNormal<tf.Rank.R4>([k, k, cin, cout]);
  const fwd = (): tf.Tensor => tf.tidy(() => tf.conv2d(x, tf.add<tf.Tensor4D>(w0, 0), stride, 'same'));
  const { blockChannels } = conv2dOptions;
  const stock: number[] = [];
  const blocked: number[] = [];
  for (let r = 0; r < 3; r++) {
    conv2dOptions.blockChannels = Number.POSITIVE_INFINITY;
    stock.push(time(fwd, 1));
    conv2dOptions.blockChannels = blockChannels;
    blocked.push(time(fwd, 1));
  }
  tf.dispose([x, w0]);
  return { layer: layer.name, stockMs: round(median(stock)), blockedMs: round(median(blocked)), blockChannels };
}

function matMulBench(m: number, k: number, n: number): Record<string, unknown>[] {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const aT = tf.transpose(a);
  const bT = tf.transpose(b);
  const flop = 2 * m * k * n;
  // The three products of a dense layer's forward and backward (C = A B, dA = dC B^T,
  // dB = A^T dC), all written as [M,K]x[K,N] so the FLOPs match.
  const forms: [string, () => tf.Tensor][] = [
    ['A B', () => tf.matMul(a, b)],
    ['A (B^T)^T  transposeB', () => tf.matMul(a, bT, false, true)],
    ['(A^T)^T B  transposeA', () => tf.matMul(aT, b, true, false)],
    ['both transposed', () => tf.matMul(aT, bT, true, true)],
  ];
  const rows = forms.map(([form, f]) => {
    unregisterWasmTrainingKernels();
    const stockMs = time(f, 20);
    registerWasmTrainingKernels();
    const oursMs = time(f, 20);
    return {
      kernel: 'BatchMatMul',
      shape: `[${m},${k}]x[${k},${n}] ${form}`,
      stock: { ms: round(stockMs, 3), gflops: gflops(flop, stockMs) },
      ours: { ms: round(oursMs, 3), gflops: gflops(flop, oursMs) },
    };
  });
  tf.dispose([a, b, aT, bT]);
  return rows;
}

function sliceBench(): Record<string, unknown>[] {
  // MoCo splits the 2N batch of (query, key) views; concat's gradient is a SplitV.
  const x = tf.randomNormal([2 * BATCH, 32, 32, 64]);
  const forms: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ['Slice half of [64,32,32,64]', () => tf.slice(x, [BATCH, 0, 0, 0], [BATCH, 32, 32, 64])],
    ['Slice channels 0..32 of [64,32,32,64]', () => tf.slice(x, [0, 0, 0, 0], [2 * BATCH, 32, 32, 32])],
    ['SplitV [64,32,32,64] in 2 on axis 0', () => tf.split(x, 2, 0)],
  ];
  const rows = forms.map(([what, f]) => {
    unregisterWasmTrainingKernels();
    const stockMs = time(f, 5);
    registerWasmTrainingKernels();
    const oursMs = time(f, 5);
    return { kernel: what, stock: { ms: round(stockMs) }, ours: { ms: round(oursMs) } };
  });
  x.dispose();
  return rows;
}

async function main(): Promise<void> {
  await tf.setBackend('wasm');
  await tf.ready();
  registerWasmTrainingKernels();
  const convs = LAYERS.map((l) => {
    const r = convBench(l);
    process.stderr.write(`${l.name} done\n`);
    return r;
  });

  // One ResNet-18 training step's conv work: forward + dx + dW of every conv, weighted by how
  // often the shape occurs (the stem needs no dx: its input is the image).
  let fwdMs = 0;
  let oursMs = 0;
  let stockDxMs = 0;
  for (const c of convs) {
    const name = c.layer as string;
    const count = COUNT_IN_RESNET18[name] ?? 0;
    const f = (c.forward as { ms: number }).ms;
    const dx = c.dx as { ours: { ms: number }; stock: { ms: number } | null };
    const dW = (c.dW as { ours: { ms: number } }).ours.ms;
    const isStem = name.startsWith('stem');
    fwdMs += count * f;
    oursMs += count * (f + (isStem ? 0 : dx.ours.ms) + dW);
    stockDxMs += count * (isStem ? 0 : (dx.stock?.ms ?? Number.NaN));
  }
  const report = {
    backend: tf.getBackend(),
    batch: BATCH,
    note: 'ms = median wall time; dx/dW GFLOP/s use the forward conv FLOPs',
    convs,
    resnet18ConvStep: {
      forwardMs: round(fwdMs),
      forwardPlusBackwardOursMs: round(oursMs),
      stockDxOnlyMs: QUICK ? null : round(stockDxMs),
      note: 'sum over ResNet-18 convs; stock cannot train (no Conv2DBackpropFilter), so only its dx is comparable',
    },
    conv2dBlocks: LAYERS.filter((l) => l.k * l.k * l.cin >= conv2dOptions.minReduction && l.cout >= 2 * conv2dOptions.blockChannels).map(conv2dBlockBench),
    dWChunks: LAYERS.filter((l) => l.stride === 1 && BATCH * l.h * l.h > dWOptions.chunkColumns).map(dWChunkBench), // layer2's 3x3 shows why chunkMinPixels
    matMul: [...matMulBench(32, 512, 128), ...matMulBench(256, 512, 512)],
    slice: sliceBench(),
  };
  console.log(JSON.stringify(report, null, 2));
}

await main();
