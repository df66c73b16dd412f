/**
 * How far issue 9's kernel changes (dW in image chunks, Conv2D in output-channel blocks, the
 * Winograd convolutions) move a MoCo trajectory: two steps of ResNet-18 at 32 px, batch 32, with
 * the changes off (one dW GEMM, whole filters, direct convs) and on, then the largest weight and
 * SGD-momentum differences.
 *   npm run -s bench:kernel-diff -- [width=0.125] [all|winograd-only|others-only|stop21-only|fused-only]
 * With `winograd-only` the other two changes stay on in both runs; with `others-only` Winograd does.
 * `stop21-only`: everything on in both runs except stop 21's assembled GEMMs (outer-product dW,
 * Winograd planes, BatchMatMul) and fused kernels (BatchNorm, SGD, key-encoder average), off
 * against on (at width 1/8 that also moves layers from direct to Winograd).
 * `fused-only`: everything on in both runs except the fused kernels (fused-kernels.ts: BatchNorm
 * with its running statistics, ReLU and residual, SGD, key-encoder average), off against on.
 */
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { Moco } from '../ml/moco.js';
import { SgdMomentum } from '../ml/optimizer.js';
import { directDwOptions } from '../ml/wasm-kernels/direct-dw.js';
import { matmulOptions } from '../ml/wasm-kernels/matmul.js';
import { fusedKernelOptions } from '../ml/fused-kernels.js';
import { registerWasmTrainingKernels } from '../ml/wasm-kernels/index.js';
import { dWOptions } from '../ml/wasm-kernels/conv2d-backprop-filter.js';
import { conv2dOptions } from '../ml/wasm-kernels/conv2d.js';
import { winogradOptions } from '../ml/wasm-kernels/winograd.js';
await tf.setBackend('wasm'); await tf.ready(); registerWasmTrainingKernels();
const width = Number(process.argv[2] ?? 0.125);
const mode = process.argv[3] ?? 'all';
if (!['all', 'winograd-only', 'others-only', 'stop21-only', 'fused-only'].includes(mode)) {
  throw new Error(`mode: expected all, winograd-only, others-only, stop21-only or fused-only, got ${mode}`);
}
const { chunkColumns } = dWOptions;
const { blockChannels } = conv2dOptions;
async function run(newKernels: boolean): Promise<{ w: Map<string, Float32Array>; loss: number[] }> {
  const fusedOnly = mode === 'fused-only';
  const others = newKernels || mode === 'winograd-only' || mode === 'stop21-only' || fusedOnly;
  dWOptions.chunkColumns = others ? chunkColumns : Infinity;
  conv2dOptions.blockChannels = others ? blockChannels : Infinity;
  winogradOptions.tile = newKernels || mode === 'others-only' || mode === 'stop21-only' || fusedOnly ? 'auto' : 0;
  const stop21 = newKernels || mode === 'winograd-only' || mode === 'others-only' || fusedOnly;
  winogradOptions.ownGemm = stop21;
  directDwOptions.enabled = stop21;
  matmulOptions.ownGemm = stop21;
  fusedKernelOptions.enabled = fusedOnly ? newKernels : stop21;
  const encoder = { architecture: 'resnet18', widthMultiplier: width, smallImageStem: true, head: 'linear', dim: 128, bnSplits: 4 } as const;
  const moco = new Moco({ encoder, queueSize: 256, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true }, 32, 0);
  const sgd = new SgdMomentum({ learningRate: 0.06, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 });
  const xq = tf.randomUniform<tf.Rank.R4>([32, 32, 32, 3], 0, 1, 'float32', 1);
  const xk = tf.randomUniform<tf.Rank.R4>([32, 32, 32, 3], 0, 1, 'float32', 2);
  const loss: number[] = [];
  for (let s = 0; s < 2; s++) loss.push((await moco.trainStep(xq, xk, sgd, 0.06)).loss);
  const w = new Map([...moco.queryEncoder.variables.parameters].map(([k, v]) => [k, v.dataSync() as Float32Array]));
  const vel = new Map([...sgd.velocity].map(([k, v]) => [`v:${k}`, v.dataSync() as Float32Array]));
  tf.dispose([xq, xk]); moco.dispose(); sgd.dispose();
  return { w: new Map([...w, ...vel]), loss };
}
const a = await run(false); const b = await run(true);
let maxW = 0; let maxV = 0; let maxAbsV = 0; let diffSq = 0; let normSq = 0;
for (const [k, va] of a.w) {
  const vb = b.w.get(k)!;
  for (let i = 0; i < va.length; i++) {
    const d = Math.abs(va[i]! - vb[i]!);
    if (!k.startsWith('v:')) { maxW = Math.max(maxW, d); continue; }
    maxV = Math.max(maxV, d); maxAbsV = Math.max(maxAbsV, Math.abs(va[i]!)); diffSq += d * d; normSq += va[i]! * va[i]!;
  }
}
// The velocity after two steps is about twice the last gradient: its relative difference is the gradients'.
console.log(JSON.stringify({
  width, mode, lossOld: a.loss, lossNew: b.loss, maxAbsWeightDiff: maxW, maxAbsVelocityDiff: maxV,
  maxAbsVelocity: maxAbsV, velocityRelativeL2Diff: Math.sqrt(diffSq / normSq),
}));
