/**
 * Where W=2 and W=1 part (issue 9 follow-up): the data-parallel step replayed in this thread,
 * tensor by tensor, against the single-replica step, on kernel-step-diff.ts's run (ResNet-18 at
 * 32 px, batch 32, 4 BN groups, K=256, lr 0.06, the same x_q/x_k every step).
 *   W=1  Moco.trainStep's operations on one Moco (batch N, G groups)
 *   W=2  worker-pool-host.ts's step on two Moco replicas (batch N/2, G/2 groups each): one
 *        Shuffle BN permutation for the batch, keys gathered and un-shuffled, each slice's
 *        gradients with loss scale 1/2, summed in replica order, BN statistics averaged
 * It also checks the replay against the real worker-thread pool (bit for bit), restarts W=2's
 * step 2 from W=1's state (the step's own discrepancy, without what step 1 left), and perturbs
 * W=1's state by one float rounding (the sensitivity of step 2 to any rounding of step 1).
 *   npx tsx main/bench/worker-step-diff.ts [width=0.125] [steps=2]
 */
import { readFileSync } from 'node:fs';
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { generateSampleSet } from '../core/sample-images.js';
import { defaultAugmentationConfig } from '../ml/augment.js';
import { makeTwoCropPixels } from '../ml/batches.js';
import { inversePermutation, Moco, shuffleRngFor } from '../ml/moco.js';
import { SgdMomentum } from '../ml/optimizer.js';
import { exportModelStateSync, importModelState, type ModelState } from '../ml/training-state.js';
import { Rng } from '../ml/rng.js';
import { registerWasmTrainingKernels } from '../ml/wasm-kernels/index.js';
import { startWorkerPool } from '../trainer/worker-channel.js';

await tf.setBackend('wasm'); await tf.ready(); registerWasmTrainingKernels();
const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const width = Number(option('width', '0.125'));
const steps = Number(option('steps', '2'));
const input = option('input', 'random'); // random: kernel-step-diff's fixed tensors; sample: the sample set, v2 crops per step
const N = 32; const S = 32; const G = 4; const lr = 0.06; const seed = Number(option('seed', '0'));
const encoder = { architecture: 'resnet18', widthMultiplier: width, smallImageStem: true, head: 'linear', dim: 128, bnSplits: G } as const;
const mocoConfig = { encoder, queueSize: Number(option('K', '256')), keyMomentum: 0.99, temperature: Number(option('T', '0.2')), shuffleKeys: true };
const sgdConfig = { learningRate: lr, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 } as const;
/** x_q and x_k of every step (the same for W=1 and W=2). */
const batches: { xq: Float32Array; xk: Float32Array }[] = [];
if (input === 'sample') {
  const images = generateSampleSet({ perClass: 10, size: 48, seed: 3 }).map((s) => s.image);
  const rng = new Rng(1); const order = rng.permutation(images.length);
  for (let s = 0; s < steps + 1; s++) {
    const p = makeTwoCropPixels(images, order.slice((s % 3) * N, (s % 3 + 1) * N), defaultAugmentationConfig('v2', S), rng);
    batches.push({ xq: p.queryPixels, xk: p.keyPixels });
  }
} else if (input !== 'random') {
  // A file of float32 pixels, x_q then x_k of each step (e.g. what a MocoTrainer sent its host).
  const all = new Float32Array(readFileSync(input).buffer.slice(0));
  const per = N * S * S * 3;
  for (let s = 0; s < steps + 1 && (2 * s + 2) * per <= all.length; s++) batches.push({ xq: all.subarray(2 * s * per, (2 * s + 1) * per), xk: all.subarray((2 * s + 1) * per, (2 * s + 2) * per) });
  while (batches.length < steps + 1) batches.push(batches[batches.length - 1]!);
} else {
  const xq = tf.randomUniform<tf.Rank.R4>([N, S, S, 3], 0, 1, 'float32', 1);
  const xk = tf.randomUniform<tf.Rank.R4>([N, S, S, 3], 0, 1, 'float32', 2);
  for (let s = 0; s < steps + 1; s++) batches.push({ xq: xq.dataSync() as Float32Array, xk: xk.dataSync() as Float32Array });
}

/** What one step leaves to compare: its tensors before SGD and the state after it. */
interface Trace { keys: Float32Array; logits: Float32Array; loss: number; gradients: Map<string, Float32Array>; state: ModelState }

function read(t: tf.Tensor): Float32Array { return Float32Array.from(t.dataSync()); }

class Single {
  readonly moco = new Moco(mocoConfig, N, seed);
  readonly sgd = new SgdMomentum(sgdConfig);
  step(s: number): Trace {
    const { moco, sgd } = this;
    const { xq: xqValues, xk: xkValues } = batches[s]!;
    let out: Trace | undefined;
    tf.tidy(() => {
      moco.momentumUpdateKeyEncoder();
      const keys = moco.encodeKeys(tf.tensor4d(xkValues, [N, S, S, 3]));
      const pass = moco.queryGradients(tf.tensor4d(xqValues, [N, S, S, 3]), keys);
      const trace = { keys: read(keys), logits: read(pass.logits), loss: pass.loss.dataSync()[0]!, gradients: new Map(Object.entries(pass.gradients).map(([k, g]) => [k, read(g)])) };
      moco.finishStep(keys, pass.gradients, sgd, lr);
      out = { ...trace, state: exportModelStateSync(moco, sgd) };
    });
    return out!;
  }
}

class Replicated {
  readonly replicas: { moco: Moco; sgd: SgdMomentum }[];
  readonly shuffleRng = shuffleRngFor(seed);
  constructor(readonly W: number) {
    const share = { ...mocoConfig, encoder: { ...encoder, bnSplits: G / W } };
    this.replicas = Array.from({ length: W }, () => ({ moco: new Moco(share, N / W, seed), sgd: new SgdMomentum(sgdConfig) }));
  }
  step(s: number): Trace {
    const { W, replicas } = this;
    const { xq: xqValues, xk: xkValues } = batches[s]!;
    const n = N / W; const per = S * S * 3;
    let out: Trace | undefined;
    tf.tidy(() => {
      const perm = this.shuffleRng.permutation(N);
      const shuffledKeys = replicas.map(({ moco }, r) => {
        moco.momentumUpdateKeyEncoder();
        const px = new Float32Array(n * per);
        for (let i = 0; i < n; i++) px.set(xkValues.subarray(perm[r * n + i]! * per, (perm[r * n + i]! + 1) * per), i * per);
        return moco.keyForward(tf.tensor4d(px, [n, S, S, 3]));
      });
      const keys = tf.gather<tf.Tensor2D>(tf.concat(shuffledKeys, 0), tf.tensor1d(inversePermutation(perm), 'int32'));
      const passes = replicas.map(({ moco }, r) => moco.queryGradients(tf.tensor4d(xqValues.subarray(r * n * per, (r + 1) * n * per), [n, S, S, 3]), tf.slice(keys, [r * n, 0], [n, -1]), n / N));
      // Running statistics: the mean over replicas, as the coordinator does.
      const buffers = (m: Moco): tf.Variable[] => [...m.queryEncoder.variables.buffers.values(), ...m.keyEncoder.variables.buffers.values()];
      const mean = buffers(replicas[0]!.moco).map((_, i) => tf.div(replicas.map(({ moco }) => buffers(moco)[i]!).reduce<tf.Tensor>((a, b) => tf.add(a, b), tf.zerosLike(buffers(replicas[0]!.moco)[i]!)), W));
      for (const { moco } of replicas) buffers(moco).forEach((v, i) => { v.assign(mean[i]!); });
      const gradients: Record<string, tf.Tensor> = {};
      for (const name of Object.keys(passes[0]!.gradients)) gradients[name] = passes.map((p) => p.gradients[name]!).reduce((a, b) => tf.add(a, b));
      const trace = { keys: read(keys), logits: read(tf.concat(passes.map((p) => p.logits), 0)), loss: passes.reduce((s, p) => s + p.loss.dataSync()[0]!, 0), gradients: new Map(Object.entries(gradients).map(([k, g]) => [k, read(g)])) };
      for (const { moco, sgd } of replicas) moco.finishStep(keys, gradients, sgd, lr);
      out = { ...trace, state: exportModelStateSync(replicas[0]!.moco, replicas[0]!.sgd) };
    });
    return out!;
  }
  load(state: ModelState): void {
    for (const { moco, sgd } of this.replicas) importModelState(moco, sgd, state);
    this.shuffleRng.setState(state.moco.shuffleRng);
  }
}

/** Largest |a - b| and that over the largest |a| of the same tensor. */
function diff(a: Float32Array, b: Float32Array): { abs: number; rel: number } {
  let abs = 0; let scale = 1e-30;
  for (let i = 0; i < a.length; i++) { abs = Math.max(abs, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(a[i]!)); }
  return { abs, rel: abs / scale };
}
function stateDiff(a: ModelState, b: ModelState, prefix: string): { abs: number; rel: number; worst: string } {
  const bm = new Map(b.tensors.map((t) => [t.name, t.values]));
  let out = { abs: 0, rel: 0, worst: '' };
  for (const t of a.tensors) {
    if (!t.name.startsWith(prefix)) continue;
    const d = diff(t.values, bm.get(t.name)!);
    if (d.rel > out.rel) out = { ...d, worst: t.name };
    else out.abs = Math.max(out.abs, d.abs);
  }
  return out;
}
function compare(label: string, a: Trace, b: Trace): void {
  const grads = [...a.gradients].map(([name, g]) => ({ name, ...diff(g, b.gradients.get(name)!) })).sort((x, y) => y.rel - x.rel);
  console.log(JSON.stringify({
    label, lossA: a.loss, lossB: b.loss, keys: diff(a.keys, b.keys), logits: diff(a.logits, b.logits),
    gradMaxAbs: Math.max(...grads.map((g) => g.abs)), gradWorstRel: grads.slice(0, 6), gradMedianRel: grads[grads.length >> 1]!.rel,
    weights: stateDiff(a.state, b.state, 'query/'), velocity: stateDiff(a.state, b.state, 'sgd/'), keyEncoder: stateDiff(a.state, b.state, 'key/'), queue: stateDiff(a.state, b.state, 'queue'),
  }));
}

/** A copy of `state` with every query weight moved by about one float32 rounding (relative 2^-24, random sign). */
function perturbed(state: ModelState): ModelState {
  let x = 12345;
  const sign = (): number => { x = (x * 1103515245 + 12345) >>> 0; return x & 1 ? 1 : -1; };
  return { moco: state.moco, tensors: state.tensors.map((t) => t.name.startsWith('query/') && !t.name.includes('running') ? { ...t, values: t.values.map((v) => v * (1 + sign() * 2 ** -24)) } : t) };
}

const one = new Single(); const two = new Replicated(2);
const a: Trace[] = []; const b: Trace[] = [];
for (let s = 0; s < steps; s++) { a.push(one.step(s)); b.push(two.step(s)); compare(`W=1 vs W=2, step ${s + 1}`, a[s]!, b[s]!); }

// The replay against the real pool: the same step in worker threads.
const pool = await startWorkerPool({ moco: mocoConfig, sgd: sgdConfig, seed, batchSize: N, workers: 2, backend: 'wasm' });
for (let s = 0; s < steps; s++) await pool.step({ queryPixels: batches[s]!.xq, keyPixels: batches[s]!.xk, count: N, imageSize: S }, lr);
const poolState = await pool.exportState();
await pool.dispose();
console.log(JSON.stringify({ label: 'replay vs worker pool W=2, all tensors', ...stateDiff(b[steps - 1]!.state, poolState, '') }));

// Step 2 of W=2 from W=1's state after step 1: the step's own discrepancy.
const restarted = new Replicated(2); restarted.load(a[0]!.state);
const fresh = new Single(); importModelState(fresh.moco, fresh.sgd, a[0]!.state);
compare('step 2 from W=1 state: W=1 vs W=2', fresh.step(1), restarted.step(1));
// Step 2 of W=1 from W=1's state with every weight rounded differently: sensitivity to rounding.
const base = new Single(); importModelState(base.moco, base.sgd, a[0]!.state);
const nudged = new Single(); importModelState(nudged.moco, nudged.sgd, perturbed(a[0]!.state));
console.log(JSON.stringify({ label: 'perturbation of step-1 weights', weights: stateDiff(a[0]!.state, perturbed(a[0]!.state), 'query/') }));
compare('step 2 from W=1 state: W=1 vs W=1 with weights moved 2^-24 relative', base.step(1), nudged.step(1));

// Which part of W=2's state after step 1 moves step 2: W=1's state with one part taken from W=2's.
const parts: Record<string, (name: string) => boolean> = {
  'query parameters': (n) => n.startsWith('query/') && !/running/.test(n),
  'query BN running statistics': (n) => n.startsWith('query/') && /running/.test(n),
  'key parameters': (n) => n.startsWith('key/') && !/running/.test(n),
  'key BN running statistics': (n) => n.startsWith('key/') && /running/.test(n),
  'SGD momentum buffers': (n) => n.startsWith('sgd/'),
};
const twoAfter1 = new Map(b[0]!.state.tensors.map((t) => [t.name, t]));
for (const [part, picks] of Object.entries(parts)) {
  const mixed: ModelState = { moco: a[0]!.state.moco, tensors: a[0]!.state.tensors.map((t) => picks(t.name) ? twoAfter1.get(t.name)! : t) };
  const x = new Single(); importModelState(x.moco, x.sgd, a[0]!.state);
  const y = new Single(); importModelState(y.moco, y.sgd, mixed);
  compare(`step 2 of W=1 from its state with W=2's ${part}`, x.step(1), y.step(1));
}

if (args.includes('--bisect')) {
  // One query parameter tensor at a time from W=2's state.
  const rows: { name: string; grad: number; rel: number; moved: number }[] = [];
  const x = new Single(); importModelState(x.moco, x.sgd, a[0]!.state); const ref = x.step(1);
  for (const t of a[0]!.state.tensors) {
    if (!t.name.startsWith('query/') || /running/.test(t.name)) continue;
    const other = twoAfter1.get(t.name)!;
    const moved = diff(t.values, other.values).abs;
    if (moved === 0) continue;
    const y = new Single(); importModelState(y.moco, y.sgd, { moco: a[0]!.state.moco, tensors: a[0]!.state.tensors.map((u) => u.name === t.name ? other : u) });
    const tr = y.step(1);
    const g = [...ref.gradients].map(([n, v]) => diff(v, tr.gradients.get(n)!));
    rows.push({ name: t.name, moved, grad: Math.max(...g.map((d) => d.abs)), rel: Math.max(...g.map((d) => d.rel)) });
    y.moco.dispose(); y.sgd.dispose();
  }
  rows.sort((p, q) => q.rel - p.rel);
  console.log(JSON.stringify({ label: 'bisect: one tensor from W=2', rows: rows.slice(0, 8) }));
}

if (args.includes('--relu')) {
  // Every Relu input of step 2 of W=1, from its own state and from it with W=2's query parameters
  // (which reproduces W=2's step 2: see the restart above): where the two forwards part.
  const stock = tf.getKernel('Relu', 'wasm');
  let log: Float32Array[] = [];
  tf.unregisterKernel('Relu', 'wasm');
  tf.registerKernel({ ...stock, kernelFunc: (p) => {
    const x = p.inputs.x as tf.TensorInfo;
    log.push(Float32Array.from((p.backend as unknown as { readSync: (id: unknown) => Float32Array }).readSync(x.dataId)));
    return stock.kernelFunc(p);
  } });
  const runWith = (state: ModelState): { relu: Float32Array[]; trace: Trace } => { log = []; const x = new Single(); importModelState(x.moco, x.sgd, state); const trace = x.step(1); return { relu: log, trace }; };
  const ra = runWith(a[0]!.state);
  const rb = runWith({ moco: a[0]!.state.moco, tensors: a[0]!.state.tensors.map((u) => parts['query parameters']!(u.name) ? twoAfter1.get(u.name)! : u) });
  const flips: { call: number; size: number; at: number }[] = [];
  let maxPreDiff = 0;
  ra.relu.forEach((va, call) => {
    const vb = rb.relu[call]!;
    for (let i = 0; i < va.length; i++) {
      maxPreDiff = Math.max(maxPreDiff, Math.abs(va[i]! - vb[i]!));
      if ((va[i]! > 0) !== (vb[i]! > 0)) flips.push({ call, size: va.length, at: Math.max(Math.abs(va[i]!), Math.abs(vb[i]!)) });
    }
  });
  const g = [...ra.trace.gradients].map(([n, v]) => ({ n, ...diff(v, rb.trace.gradients.get(n)!) })).sort((p, q) => q.rel - p.rel)[0]!;
  // 17 Relu calls per forward (stem, 2 per basic block): the key forward first, then the query's.
  console.log(JSON.stringify({ label: 'relu flips in step 2 (W=1 state vs W=1 state + W=2 query weights)', seed, maxPreActivationDiff: maxPreDiff, flips, worstGradient: g }));
}
