// Data-parallel MoCo over worker_threads (issue 9): real workers, each with its own wasm backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeHost } from '../../../main/ml/compute-host.js';
import { InProcessHost } from '../../../main/ml/in-process-host.js';
import { Encoder, parameterCount } from '../../../main/ml/resnet.js';
import { exportTrainingState, importTrainerMeta, joinTrainingState, type ModelState } from '../../../main/ml/training-state.js';
import { MocoTrainer, type StepReport } from '../../../main/ml/trainer.js';
import type { WorkerPoolHost } from '../../../main/ml/worker-pool-host.js';
import { chooseWorkers } from '../../../shared/workers.js';
import { startWorkerPool } from '../../../main/trainer/worker-channel.js';
import { useBackend } from '../../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

const config = tinyTrainingConfig(4);
const images = tinySampleImages(2); // 20 images: 2 steps of 8

const pool = (workers: number): Promise<WorkerPoolHost> =>
  startWorkerPool({ moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: config.batchSize, workers, backend: 'wasm' });

function weights(state: ModelState): Map<string, Float32Array> {
  return new Map(state.tensors.map((t) => [t.name, t.values]));
}

/** Largest |a - b| over every tensor, relative to the tensor's largest |a|. */
function maxRelativeDifference(a: ModelState, b: ModelState): number {
  const wb = weights(b);
  let worst = 0;
  for (const t of a.tensors) {
    const other = wb.get(t.name)!;
    expect(other, t.name).toBeDefined();
    let scale = 1e-12;
    let diff = 0;
    for (let i = 0; i < t.values.length; i++) {
      scale = Math.max(scale, Math.abs(t.values[i]!));
      diff = Math.max(diff, Math.abs(t.values[i]! - other[i]!));
    }
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

async function run(host: ComputeHost, trainer: MocoTrainer, steps: number): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (let i = 0; i < steps; i++) reports.push(await trainer.trainStepOn(host, images));
  return reports;
}

describe('data-parallel MoCo over worker threads', () => {
  // Two pools (3 workers) for the whole file: starting a worker (tsx + tfjs + wasm) takes seconds.
  let w1: WorkerPoolHost;
  let w2: WorkerPoolHost;
  let initial: ModelState; // the seed's model, as every pool starts
  beforeAll(async () => {
    await useBackend('wasm');
    [w1, w2] = await Promise.all([pool(1), pool(2)]);
    initial = await w2.exportState();
  });
  afterAll(async () => {
    await Promise.all([w1, w2].map((h) => h.dispose()));
  });

  it('counts parameters from the plan as the encoder has them', () => {
    for (const head of ['linear', 'mlp'] as const) {
      for (const architecture of ['resnet18', 'resnet50'] as const) {
        const e = { ...config.moco.encoder, head, architecture };
        const encoder = Encoder.create(e, 1);
        expect(parameterCount(e)).toBe(encoder.variables.parameterCount());
        encoder.dispose();
      }
    }
  });

  // Tolerances: W=1 is the in-process step exactly (same floats in the same order). W=2 sums the
  // two halves' gradients instead of one batch sum inside each kernel, and averages BN running
  // statistics over workers: 3 steps agree to 1e-4 relative (seen: ~1e-6), metrics to 1e-4.
  it('W=1 equals the in-process step exactly, W=2 within 1e-4, and a fixed W is deterministic', async () => {
    const local = new MocoTrainer(config);
    const inProcess = new InProcessHost(local.moco, local.optimizer);
    const reference = await run(inProcess, local, 3);
    const referenceState = await inProcess.exportState();

    const results = [];
    for (const host of [w1, w2, w2]) {
      await host.importState(initial);
      const trainer = new MocoTrainer(config, { localModel: false });
      results.push({ reports: await run(host, trainer, 3), state: await host.exportState(), trainer });
    }
    expect(maxRelativeDifference(referenceState, results[0]!.state)).toBe(0);
    expect(results[0]!.reports.map((r) => r.metrics)).toEqual(reference.map((r) => r.metrics));
    const drift = maxRelativeDifference(referenceState, results[1]!.state);
    expect(drift).toBeLessThan(1e-4);
    results[1]!.reports.forEach((r, i) => {
      expect(r.metrics.loss).toBeCloseTo(reference[i]!.metrics.loss, 4);
      expect(r.metrics.embeddingStd).toBeCloseTo(reference[i]!.metrics.embeddingStd, 4);
      expect(r.metrics.top1).toBe(reference[i]!.metrics.top1);
    });
    expect(maxRelativeDifference(results[1]!.state, results[2]!.state)).toBe(0);
    // queue pointer and Shuffle BN RNG as the in-process run has them
    expect(results[1]!.state.moco).toEqual(referenceState.moco);
    local.dispose();
  });

  it('resumes a checkpoint across worker counts (W=2 -> in-process -> W=1) as one run', async () => {
    const straight = new MocoTrainer(config);
    const straightHost = new InProcessHost(straight.moco, straight.optimizer);
    await run(straightHost, straight, 3);
    const straightState = await exportTrainingState(straight);

    await w2.importState(initial);
    const first = new MocoTrainer(config, { localModel: false });
    await run(w2, first, 2); // 2 steps: the 3rd is already augmented ahead, and must not count
    const saved = joinTrainingState(first, await w2.exportState());
    expect(saved.meta.globalStep).toBe(2);

    const resumed = new MocoTrainer(config, { localModel: false });
    importTrainerMeta(resumed, saved);
    await w1.importState({ tensors: saved.tensors, moco: saved.meta.moco });
    await run(w1, resumed, 1);
    const resumedState = joinTrainingState(resumed, await w1.exportState());
    expect(resumedState.meta).toEqual(straightState.meta);
    expect(maxRelativeDifference({ tensors: straightState.tensors, moco: straightState.meta.moco }, { tensors: resumedState.tensors, moco: resumedState.meta.moco })).toBeLessThan(1e-4);
    straight.dispose();
  });

  it('embeds through the workers as in-process, and refuses a worker count that splits a BatchNorm group', async () => {
    await w2.importState(initial);
    const local = new MocoTrainer(config);
    const inProcess = new InProcessHost(local.moco, local.optimizer);
    const pixels = new Float32Array(70 * 16 * 16 * 3).map((_, i) => Math.sin(i));
    const a = await inProcess.embed(pixels, 70, 16);
    const b = await w2.embed(pixels, 70, 16);
    expect(b.dim).toBe(a.dim);
    let diff = 0;
    a.values.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - b.values[i]!)); });
    expect(diff).toBeLessThan(1e-5);
    const heaps = await w2.heapBytes();
    expect(heaps).toHaveLength(2);
    expect(heaps[0]).toBeGreaterThan(0);
    await expect(pool(3)).rejects.toThrow(/workers: 3 must divide the 4 BatchNorm groups/);
    expect(chooseWorkers(undefined, 4, 32, 'wasm', 16).workers).toBe(4); // capped
    expect(chooseWorkers(undefined, 4, 32, 'wasm', 3).workers).toBe(2); // divides the groups
    expect(chooseWorkers(undefined, 1, 32, 'wasm', 8).workers).toBe(1);
    expect(chooseWorkers(3, 4, 32, 'wasm', 8)).toMatchObject({ workers: 2, adjustedFrom: 3 });
    expect(chooseWorkers(2, 4, 32, 'tensorflow', 8)).toMatchObject({ workers: 1, adjustedFrom: 2 });
    local.dispose();
  });
});
