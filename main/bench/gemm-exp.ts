/**
 * A/B of one XNNPACK GEMM [M, K] x [K, N] against the same product in K-chunks summed (the dW
 * GEMM's reduction runs over N*Ho*Wo; issue 9). CPU time, interleaved, median of 4 after a
 * warm-up; B is fresh each call, as dy is in training.
 *   npm run -s bench:gemm -- 576,32768,64
 */
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../ml/wasm-kernels/index.js';
const now = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
function med(a: number[]): number { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]!; }
await tf.setBackend('wasm'); await tf.ready(); registerWasmTrainingKernels();
const [m, k, n] = (process.argv[2] ?? '576,32768,64').split(',').map(Number) as [number, number, number];
const chunks = [k, 8192, 4096, 2048, 1024, 512].filter((c) => c <= k && k % c === 0);
const a = tf.randomNormal([m, k]); const b0 = tf.randomNormal([k, n]);
const aParts = new Map(chunks.map((c) => [c, tf.split(a, k / c, 1)]));
const times = new Map<number, number[]>();
for (let r = 0; r < 5; r++) for (const c of chunks) {
  const b = tf.add(b0, 0); // fresh B each call (dy is new every step)
  const bParts = tf.split(b, k / c, 0);
  const t0 = now();
  const y = tf.tidy(() => { let acc: tf.Tensor | null = null; aParts.get(c)!.forEach((ap, i) => { const p = tf.matMul(ap, bParts[i]!); acc = acc ? tf.add(acc, p) : p; }); return acc!; });
  const t = now() - t0;
  tf.dispose([y, b, ...bParts]);
  if (r > 0) times.set(c, [...(times.get(c) ?? []), t]);
}
for (const [c, v] of times) console.log(`[${m},${k}]x[${k},${n}] K-chunk ${c}: ${med(v).toFixed(1)} ms cpu, ${(2 * m * k * n / med(v) / 1e6).toFixed(1)} GFLOP/s`);
