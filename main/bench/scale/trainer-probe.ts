/**
 * The trainer side of `npm run bench:scale` (issue 14): a real trainer process (the same fork the
 * CLI and server use) trains a few steps at 32 px and is stopped; its peak resident memory is
 * VmHWM from /proc/<pid>/status, polled while it runs (Linux; null elsewhere). Then the real
 * embed job embeds every image, and neighbour queries run on the stored matrix.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEmbeddings } from '../../core/embeddings/embedding-store.js';
import { NeighbourIndex } from '../../core/embeddings/neighbour-index.js';
import { createRun, runPaths } from '../../core/run-store.js';
import { forkTrainer, TrainerHost, type TrainerProcess } from '../../core/trainer-host.js';
import { runTrainerJob } from '../../core/trainer-jobs.js';
import type { TrainerEvent } from '../../../shared/trainer-protocol.js';

/** 32 px as the figures; a quarter-width ResNet-18 so the whole-folder embed stays minutes at 100k on 2 cores (memory is what is measured). */
export const BENCH_SETTINGS = { epochs: 1, imageSize: 32, batchSize: 64, widthMultiplier: 0.25, backend: 'wasm', workers: 1, seed: 1, checkpointMinutes: 1440 } as const;

export interface TrainerProbe {
  trainerPeakRssMB: number | null;
  trainerLoadSeconds: number;
  stepMs: number;
  steps: number;
  /** null when the embed was skipped (with the query that needs its matrix). */
  embedSeconds: number | null;
  embedPeakRssMB: number | null;
  neighbourQueryMs: number | null;
}

/** Peak resident set (VmHWM) of a live process in MB, or null where /proc is not there. */
export function peakRssMB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Spawns through forkTrainer and keeps the highest VmHWM seen until the process exits. */
function watchedTrainer(): { spawn: () => TrainerProcess; peak: () => number | null } {
  let peak: number | null = null;
  const spawn = (): TrainerProcess => {
    const child = forkTrainer();
    const timer = setInterval(() => {
      const now = peakRssMB(child.pid);
      if (now !== null) peak = Math.max(peak ?? 0, now);
    }, 100);
    child.onExit(() => { clearInterval(timer); });
    return child;
  };
  return { spawn, peak: () => peak };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
}

export async function probeTrainer(folder: string, cacheDirectory: string, workDir: string, options: { steps: number; embed: boolean; batchSize?: number; workers?: number; widthMultiplier?: number }, log: (m: string) => void = () => undefined): Promise<TrainerProbe> {
  const { steps } = options;
  const settings = { ...BENCH_SETTINGS, batchSize: options.batchSize ?? BENCH_SETTINGS.batchSize, workers: options.workers ?? BENCH_SETTINGS.workers, widthMultiplier: options.widthMultiplier ?? BENCH_SETTINGS.widthMultiplier };
  const { directory } = await createRun({
    runsRoot: join(workDir, 'runs'), folder,
    userSettings: settings,
  });
  const watched = watchedTrainer();
  const stepTimes: number[] = [];
  let loadStarted = 0;
  let loadSeconds = 0;
  let stopped = false;
  const ended: { failure: string | null } = { failure: null };
  const host = new TrainerHost(watched.spawn(), (event: TrainerEvent) => {
    if (event.type === 'loading' && loadStarted === 0) loadStarted = performance.now();
    if (event.type === 'dataset') loadSeconds = (performance.now() - loadStarted) / 1000;
    if (event.type === 'error') ended.failure = event.message;
    if (event.type === 'log') log(`trainer: ${event.message}`);
    if (event.type === 'metrics') {
      stepTimes.push(performance.now());
      if (stepTimes.length >= steps && !stopped) {
        stopped = true;
        host.send({ type: 'stop' });
      }
    }
  });
  host.send({ type: 'start', folder, runDirectory: directory, cacheDirectory, userSettings: settings, resume: false });
  await host.exited;
  if (ended.failure !== null || stepTimes.length < 2) throw new Error(`bench trainer failed: ${ended.failure ?? 'fewer than 2 steps'}`);
  // The first step includes warm-up (kernels, first allocation): the rest are the steady state.
  const intervals = stepTimes.slice(1).map((t, i) => t - stepTimes[i]!);
  const trainerPeakRssMB = watched.peak();
  const trained = { trainerPeakRssMB, trainerLoadSeconds: loadSeconds, stepMs: median(intervals), steps: stepTimes.length };
  if (!options.embed) return { ...trained, embedSeconds: null, embedPeakRssMB: null, neighbourQueryMs: null };

  const embedWatch = watchedTrainer();
  const embedStarted = performance.now();
  await runTrainerJob({ type: 'embed', runDirectory: directory, cacheDirectory }, () => undefined, embedWatch.spawn);
  const embedSeconds = (performance.now() - embedStarted) / 1000;

  const stored = await readEmbeddings(runPaths(directory).embeddings);
  const index = new NeighbourIndex(stored.matrix, stored.dim);
  const queryTimes: number[] = [];
  for (let q = 0; q < 21; q++) {
    const row = Math.floor((q * stored.rows) / 21);
    const t0 = performance.now();
    index.neighboursOfRow(row, 10);
    queryTimes.push(performance.now() - t0);
  }
  return {
    ...trained,
    embedSeconds, embedPeakRssMB: embedWatch.peak(), neighbourQueryMs: median(queryTimes.slice(1)),
  };
}
