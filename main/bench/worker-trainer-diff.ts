// W=1 (in-process) vs W=2 (worker pool) through MocoTrainer on the sample set, per step; DUMP=file
// writes the pixels the trainer sent, for worker-step-diff.ts --input=file (issue 9 drift).
//   npx tsx main/bench/worker-trainer-diff.ts [width=0.125] [steps=2] [K=4096]
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { generateSampleSet } from '../core/sample-images.js';
import { defaultAugmentationConfig } from '../ml/augment.js';
import { InProcessHost } from '../ml/in-process-host.js';
import { MocoTrainer, type TrainingConfig } from '../ml/trainer.js';
import type { ModelState } from '../ml/training-state.js';
import { registerWasmTrainingKernels } from '../ml/wasm-kernels/index.js';
import { startWorkerPool } from '../trainer/worker-channel.js';
await tf.setBackend('wasm'); await tf.ready(); registerWasmTrainingKernels();
const width = Number(process.argv[2] ?? 0.125); const steps = Number(process.argv[3] ?? 2); const K = Number(process.argv[4] ?? 4096);
const config: TrainingConfig = {
  moco: { encoder: { architecture: 'resnet18', widthMultiplier: width, smallImageStem: true, head: 'linear', dim: 128, bnSplits: 4 }, queueSize: K, keyMomentum: 0.99, temperature: 0.1, shuffleKeys: true },
  sgd: { learningRate: 0.06, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'cosine' }, warmupEpochs: 0 },
  augmentation: defaultAugmentationConfig('v2', 32), batchSize: 32, epochs: 10, seed: 1,
};
const images = generateSampleSet({ perClass: 10, size: 48, seed: 3 }).map((s) => s.image);
function d(a: ModelState, b: ModelState, prefix: string): [number, string] {
  const bm = new Map(b.tensors.map((t) => [t.name, t.values])); let worst = 0; let name = '';
  for (const t of a.tensors) { if (!t.name.startsWith(prefix)) continue; const o = bm.get(t.name)!; for (let i = 0; i < t.values.length; i++) { const x = Math.abs(t.values[i]! - o[i]!); if (x > worst) { worst = x; name = t.name; } } }
  return [worst, name];
}
const local = new MocoTrainer(config); const inProcess = new InProcessHost(local.moco, local.optimizer);
const pool = await startWorkerPool({ moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: 32, workers: 2, backend: 'wasm' });
const remote = new MocoTrainer(config, { localModel: false });
const seen: Float32Array[][] = [[], []];
const record = (host: { step: (b: { queryPixels: Float32Array; keyPixels: Float32Array }, ...rest: never[]) => unknown }, i: number): void => {
  const original = host.step.bind(host);
  host.step = (b, ...rest) => { seen[i]!.push(Float32Array.from(b.queryPixels), Float32Array.from(b.keyPixels)); return original(b, ...rest); };
};
record(inProcess as never, 0); record(pool as never, 1);
for (let s = 0; s < steps; s++) {
  const a = await local.trainStepOn(inProcess, images); const b = await remote.trainStepOn(pool, images);
  const sa = await inProcess.exportState(); const sb = await pool.exportState();
  let px = 0; seen[0]!.forEach((a, j) => { a.forEach((v, i) => { px = Math.max(px, Math.abs(v - seen[1]![j]![i]!)); }); });
  console.log(JSON.stringify({ step: s + 1, pixelDiff: px, lossA: a.metrics.loss, lossB: b.metrics.loss, weights: d(sa, sb, 'query/'), velocity: d(sa, sb, 'sgd/'), key: d(sa, sb, 'key/'), queue: d(sa, sb, 'queue') }));
}
await pool.dispose();
if (process.env.DUMP) { const { writeFileSync } = await import('node:fs'); writeFileSync(process.env.DUMP, Buffer.concat(seen[0]!.map((a) => Buffer.from(a.buffer)))); }
