/**
 * An honest time estimate before Start (issue 12, "a quick first run"): the run's own settings
 * (resolved for the folder's image count on the backend training would pick), its own compute
 * host (worker threads included), one warm-up step and then timed steps on random pixels.
 * What it does not time, augmentation (overlapped with the step), decoding the folder the first
 * time and the kNN check per epoch, the UI names beside the figure.
 */
import type { TrainerCommand, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { resolveSettings } from '../../shared/training-settings.js';
import { chooseBackend } from '../ml/backend.js';
import { coreCount, openTrainingCompute, workersFor } from './compute-hosts.js';
import { preferredBackendOrder } from './doctor.js';

type EstimateCommand = Extract<TrainerCommand, { type: 'estimate' }>;

/** Timed steps at most, and the time they may take (after the warm-up). */
const MAX_TIMED_STEPS = 3;
const TIMING_BUDGET_MS = 4000;

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
    const stepsPerEpoch = Math.floor(command.imageCount / settings.batchSize);
    return {
      type: 'estimate', backend: backend.name, workers: workers.workers, settings,
      secondsPerStep: times[Math.floor(times.length / 2)]! / 1000, timedSteps: times.length, stepsPerEpoch, totalSteps: stepsPerEpoch * settings.epochs,
    };
  } finally {
    await compute.dispose();
  }
}
