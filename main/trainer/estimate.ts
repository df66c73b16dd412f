/**
 * An honest time estimate before Start (issue 12, "a quick first run"): the run's own settings
 * (resolved for the folder's image count on the backend training would pick), its own compute
 * host (worker threads included), one warm-up step and then timed steps on random pixels.
 * It also reports the start-up it paid (this process's start to a warmed-up host: tfjs, the
 * backend choice, the workers, the first step's compilation), which a run pays before its first
 * step, and the time per image of an eval-mode embed, which the run pays for its kNN checks and
 * its final embeddings (main/core/training-estimate.ts adds them up). What it does not time,
 * augmentation (overlapped with the step) and decoding the folder the first time, the UI names.
 */
import type { TrainerCommand, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { resolveSettings } from '../../shared/training-settings.js';
import { chooseBackend } from '../ml/backend.js';
import { coreCount, openTrainingCompute, workersFor } from './compute-hosts.js';
import { preferredBackendOrder } from './doctor.js';
import { EMBEDDING_REPRESENTATION } from './run-embeddings.js';

type EstimateCommand = Extract<TrainerCommand, { type: 'estimate' }>;

/** Timed steps at most, and the time they may take (after the warm-up). */
const MAX_TIMED_STEPS = 3;
const TIMING_BUDGET_MS = 4000;
/** Images of the timed embed at most (the monitors embed blocks of up to 2000, the final embedding 1024). */
const EMBED_IMAGES = 256;

/** Deterministic pixels in [0, 1): the step's cost does not depend on the values. */
function randomPixels(length: number, seed: number): Float32Array {
  const values = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 4294967296;
  }
  return values;
}

export async function estimateJob(command: EstimateCommand): Promise<TrainerEventOf<'estimate'>> {
  const order = await preferredBackendOrder(command.backendReport);
  const backend = await chooseBackend({ preferred: command.userSettings.backend ?? 'auto', env: process.env, ...(order ? { order } : {}) });
  const { settings } = resolveSettings(command.userSettings, command.imageCount, backend.name, coreCount());
  const workers = workersFor(settings, backend.name, command.userSettings.workers);
  const compute = await openTrainingCompute(settings, backend.name, workers.workers);
  try {
    const size = settings.imageSize;
    const count = settings.batchSize;
    const batch = { queryPixels: randomPixels(count * size * size * 3, 1), keyPixels: randomPixels(count * size * size * 3, 2), count, imageSize: size };
    await compute.host.step(batch, settings.learningRate); // warm-up: kernels compiled, buffers allocated
    const times: number[] = [];
    const started = performance.now();
    while (times.length < MAX_TIMED_STEPS && (times.length === 0 || performance.now() - started < TIMING_BUDGET_MS)) {
      const t0 = performance.now();
      await compute.host.step(batch, settings.learningRate);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const secondsPerStep = times[Math.floor(times.length / 2)]! / 1000;
    // Up to here, less the timed steps and one step (the run's first step is counted among its steps): its start-up.
    const startupSeconds = Math.max(0, process.uptime() - times.reduce((sum, t) => sum + t, 0) / 1000 - secondsPerStep);
    const embedCount = Math.min(EMBED_IMAGES, command.imageCount);
    const evalPixels = randomPixels(embedCount * size * size * 3, 3);
    await compute.host.embed(evalPixels, embedCount, size, EMBEDDING_REPRESENTATION); // warm-up: the eval-mode kernels
    const e0 = performance.now();
    await compute.host.embed(evalPixels, embedCount, size, EMBEDDING_REPRESENTATION);
    const embedSecondsPerImage = (performance.now() - e0) / 1000 / embedCount;
    const stepsPerEpoch = Math.floor(command.imageCount / settings.batchSize);
    return {
      type: 'estimate', backend: backend.name, workers: workers.workers, settings,
      secondsPerStep, timedSteps: times.length, stepsPerEpoch, totalSteps: stepsPerEpoch * settings.epochs, startupSeconds, embedSecondsPerImage,
    };
  } finally {
    await compute.dispose();
  }
}
