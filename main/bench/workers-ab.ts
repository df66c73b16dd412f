/**
 * Does the default worker count pay (issue 9)? The product's own step path for a folder of
 * images: resolveSettings' CPU defaults (wasm), openTrainingCompute at W=1 (the in-process step)
 * and at W=2 (the worker pool), MocoTrainer.trainStepOn (augmentation of the next batch overlapped
 * with the step, as training does), on the sample set. Rounds alternate W=1 and W=2 (A/B
 * interleaved, the machine is shared), each round's steps timed in wall clock and CPU time of
 * the process (workers included), with `uptime`'s load beside it. Prints JSON lines.
 *   npx tsx main/bench/workers-ab.ts [--rounds=4] [--steps=6] [--width=0.25]
 */
import '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { generateSampleSet } from '../core/sample-images.js';
import { initialiseBackend } from '../ml/backend.js';
import { resolveSettings } from '../../shared/training-settings.js';
import { openTrainingCompute, type TrainingCompute } from '../trainer/compute-hosts.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rounds = Number(option('rounds', '4'));
const steps = Number(option('steps', '6'));
const images = generateSampleSet({ perClass: 40, size: 48, seed: 3 }).map((s) => s.image);
await initialiseBackend('wasm');
const user = option('width', '') ? { widthMultiplier: Number(option('width', '')) } : {};
const { settings } = resolveSettings(user, images.length, 'wasm', 2);
console.log(JSON.stringify({ settings: { arch: settings.architecture, width: settings.widthMultiplier, imageSize: settings.imageSize, batch: settings.batchSize, bnSplits: settings.bnSplits, queue: settings.queueSize, defaultWorkers: settings.workers } }));
const computes = new Map<number, TrainingCompute>();
for (const w of [1, 2]) {
  const c = await openTrainingCompute(settings, 'wasm', w);
  for (let i = 0; i < 2; i++) await c.trainer.trainStepOn(c.host, images); // warm-up: XNNPACK setup, first-step allocations
  computes.set(w, c);
}
for (let r = 0; r < rounds; r++) {
  for (const w of r % 2 === 0 ? [1, 2] : [2, 1]) {
    const c = computes.get(w)!;
    const load = loadavg()[0]!;
    const cpu0 = process.cpuUsage(); const t0 = performance.now();
    for (let i = 0; i < steps; i++) await c.trainer.trainStepOn(c.host, images);
    const wall = performance.now() - t0; const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ round: r, workers: w, steps, msPerStep: Math.round(wall / steps), imgPerS: +((steps * settings.batchSize) / (wall / 1000)).toFixed(1), cpuMsPerStep: Math.round((cpu.user + cpu.system) / 1000 / steps), load1Before: +load.toFixed(2), load1After: +loadavg()[0]!.toFixed(2) }));
  }
}
for (const c of computes.values()) await c.dispose();
