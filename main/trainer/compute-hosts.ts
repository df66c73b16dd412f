/**
 * Where a training run's MoCo steps run (issue 9): in this thread (one worker, or a backend
 * other than wasm), or a pool of worker threads each with its own wasm backend. Both are a
 * ComputeHost; the trainer loop only sees that interface.
 */
import { availableParallelism } from 'node:os';
import type { RgbImage } from '../ml/augment.js';
import type { BackendName } from '../ml/backend.js';
import { makeEvalPixels, type Representation } from '../ml/batches.js';
import type { ComputeHost, EmbeddingMatrix } from '../ml/compute-host.js';
import { blockPositions, MemoryImageSource, type ImageSource } from '../ml/image-source.js';
import { InProcessHost } from '../ml/in-process-host.js';
import { importTrainerMeta, joinTrainingState, type TrainingState } from '../ml/training-state.js';
import { MocoTrainer } from '../ml/trainer.js';
import type { ResolvedSettings } from '../../shared/training-settings.js';
import { chooseWorkers } from '../../shared/workers.js';
import { AugmentPool } from './augment-pool.js';
import { toTrainingConfig } from './training-config.js';
import { hasRendererCompute, openRendererCompute } from './renderer-compute.js';
import { startWorkerPool } from './worker-channel.js';

export interface TrainingCompute {
  readonly trainer: MocoTrainer;
  readonly host: ComputeHost;
  dispose(): Promise<void>;
}

/** Cores the default worker count is taken from. */
export function coreCount(): number {
  return availableParallelism();
}

/**
 * The worker count of a run: `requested` (the command's --workers / settings, which may differ
 * on resume: checkpoints resume across worker counts), else the recorded one, else the default.
 */
export function workersFor(settings: ResolvedSettings, backend: BackendName, requested: number | undefined): { workers: number; reason: string } {
  return chooseWorkers(requested ?? settings.workers, settings.bnSplits, settings.batchSize, backend, coreCount());
}

/**
 * MOCO_AUGMENT_WORKERS=N renders the views on N worker threads (augment-pool.ts; issue 8: a GPU
 * step can outrun augmentation on the trainer thread). Opt-in: on this project's 2-core machines
 * it has not been shown to pay (npm run bench:augment); the run is the same either way.
 */
export function augmentWorkersFrom(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env.MOCO_AUGMENT_WORKERS?.trim();
  if (!raw) return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new Error(`MOCO_AUGMENT_WORKERS: expected an integer 0-64, got "${raw}"`);
  return n;
}

export async function openTrainingCompute(settings: ResolvedSettings, backend: BackendName, workers: number, env: Readonly<Record<string, string | undefined>> = process.env): Promise<TrainingCompute> {
  const config = toTrainingConfig(settings);
  const augmentWorkers = augmentWorkersFrom(env);
  const pool = augmentWorkers > 0 ? AugmentPool.start(augmentWorkers) : null;
  const views = pool ? { views: pool } : {};
  const withPool = (dispose: () => Promise<void>) => async (): Promise<void> => {
    await dispose();
    await pool?.dispose();
  };
  try {
    if (backend === 'webgpu' && hasRendererCompute()) {
      // The desktop app: the step runs in the compute renderer's WebGPU (issue 8).
      const host = await openRendererCompute(config);
      const trainer = new MocoTrainer(config, { localModel: false, ...views });
      return { trainer, host, dispose: withPool(() => host.dispose()) };
    }
    if (workers <= 1 || backend !== 'wasm') {
      const trainer = new MocoTrainer(config, views);
      const host = new InProcessHost(trainer.moco, trainer.optimizer);
      return { trainer, host, dispose: withPool(() => { trainer.dispose(); return Promise.resolve(); }) };
    }
    const host = await startWorkerPool({ moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: config.batchSize, workers, backend });
    const trainer = new MocoTrainer(config, { localModel: false, ...views });
    return { trainer, host, dispose: withPool(() => host.dispose()) };
  } catch (error) {
    await pool?.dispose();
    throw error;
  }
}

/** A checkpoint into the run: model state into the host, position and data RNG into the trainer. */
export async function restoreTrainingState(compute: TrainingCompute, state: TrainingState): Promise<void> {
  await compute.host.importState({ tensors: state.tensors, moco: state.meta.moco });
  importTrainerMeta(compute.trainer, state);
}

export async function exportTrainingStateOf(compute: TrainingCompute): Promise<TrainingState> {
  return joinTrainingState(compute.trainer, await compute.host.exportState());
}

/** Images per embed call: bounds the eval pixels held at once (1024 x 32 x 32 x 3 floats = 12 MB). */
const EMBED_BLOCK = 1024;

/** Eval-mode embeddings [M, dim] of images through the host (its workers, where it has them). */
export async function embedThroughHost(host: ComputeHost, images: readonly RgbImage[] | ImageSource, imageSize: number, representation: Representation = 'backbone'): Promise<EmbeddingMatrix> {
  const source = Array.isArray(images) ? new MemoryImageSource(images as readonly RgbImage[]) : images as ImageSource;
  let values: Float32Array | null = null;
  let dim = 0;
  // Block by block from the store (issue 14): only one block of images is in memory.
  for (let start = 0; start < source.count; start += EMBED_BLOCK) {
    const block = await source.read(blockPositions(start, Math.min(source.count, start + EMBED_BLOCK)));
    const part = await host.embed(makeEvalPixels(block, imageSize), block.length, imageSize, representation);
    dim = part.dim;
    values ??= new Float32Array(source.count * dim);
    values.set(part.values, start * dim);
  }
  if (!values) throw new Error('embed: no images');
  return { values, dim };
}
