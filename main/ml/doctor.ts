/**
 * The backend doctor (issue 5): which TensorFlow.js backends load here, why the others do not
 * (with what the user can do), and a short micro-benchmark of each that loads: images per second
 * of a full MoCo training step of a tiny ResNet-18 (width 1/8, 32 px, batch 16). No file system
 * here: the trainer process writes the report and reads it back (main/trainer/doctor.ts).
 *
 * tfjs switches backends in one process (tf.setBackend); each benchmark builds its own model on
 * the backend it measures and disposes it before the next.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendCheck, BackendReport } from '../../shared/trainer-protocol.js';
import { BACKEND_NAMES, explainBackendFailure, initialiseBackend, type BackendName, type PlatformInfo } from './backend.js';
import type { ComputeHost } from './compute-host.js';
import { Moco, type MocoConfig } from './moco.js';
import { SgdMomentum, type SgdConfig } from './optimizer.js';
import type { EncoderConfig } from './resnet.js';
import { formatAdapter, WebGpuUnavailable } from './webgpu-backend.js';

export const DOCTOR_WORKLOAD = {
  model: 'ResNet-18 (width 1/8, small-image stem, linear head to 128)',
  imageSize: 32,
  batchSize: 16,
  queueSize: 1024,
} as const;

const ENCODER: EncoderConfig = { architecture: 'resnet18', widthMultiplier: 0.125, smallImageStem: true, head: 'linear', dim: 128, bnSplits: 8 };

/** How old a report may be before training ignores it (the machine may have changed). */
export const REPORT_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

export interface DoctorOptions {
  /** Benchmark budget in seconds, split across the fast backends that load (default 10). */
  readonly seconds?: number;
  /** Give the cpu backend one timed step (default false: skipped with the reason; one step takes ~30 s here). */
  readonly cpuStep?: boolean;
  /** Which backends to check (default all, in the default order). */
  readonly backends?: readonly BackendName[];
  readonly where?: PlatformInfo;
  /** Progress lines (stderr in the CLI, log events in the trainer). */
  readonly log?: (message: string) => void;
  readonly now?: () => Date;
  /** Benchmark a software WebGPU adapter too (default: env MOCO_WEBGPU_ALLOW_FALLBACK=1); training's auto never uses one. */
  readonly allowFallbackAdapter?: boolean;
  /**
   * Times the wasm step over the default worker threads (issue 9: img/s at W=1 and at the
   * default W). The trainer passes one that opens a worker pool (main/trainer/doctor.ts); main/ml
   * knows no threads. Absent: the wasm row has no workers figure.
   */
  readonly benchmarkWorkers?: (seconds: number) => Promise<WorkersBenchmark>;
}

export type WorkersBenchmark = NonNullable<BackendCheck['workers']>;

/** The doctor's workload as a compute host configuration (the same model, queue and optimiser as benchmarkMocoStep). */
export function doctorHostConfig(): { moco: MocoConfig; sgd: SgdConfig; batchSize: number } {
  return {
    moco: { encoder: ENCODER, queueSize: DOCTOR_WORKLOAD.queueSize, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true },
    sgd: { learningRate: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 },
    batchSize: DOCTOR_WORKLOAD.batchSize,
  };
}

/** benchmarkMocoStep through any compute host (a worker pool): one warm-up step, then steps for `seconds` (at least one). */
export async function benchmarkHostStep(host: ComputeHost, seconds: number): Promise<Benchmark> {
  const { batchSize, imageSize } = DOCTOR_WORKLOAD;
  const length = batchSize * imageSize * imageSize * 3;
  const pixels = (seed: number): Float32Array => Float32Array.from({ length }, (_, i) => ((Math.imul(i + 1, 2654435761) ^ seed) >>> 0) / 4294967296);
  const batch = { queryPixels: pixels(1), keyPixels: pixels(2), count: batchSize, imageSize };
  await host.step(batch, 0.03);
  const times: number[] = [];
  const started = performance.now();
  while (times.length === 0 || performance.now() - started < seconds * 1000) {
    const t0 = performance.now();
    await host.step(batch, 0.03);
    times.push(performance.now() - t0);
  }
  const stepMs = median(times);
  return { imagesPerSecond: Number(((batchSize * 1000) / stepMs).toFixed(2)), stepMs: Number(stepMs.toFixed(1)), steps: times.length };
}

interface Benchmark {
  readonly imagesPerSecond: number;
  readonly stepMs: number;
  readonly steps: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Times full MoCo steps on the current backend: one untimed warm-up step (kernel compilation,
 * allocation) unless `maxSteps` is 1, then steps until `seconds` have passed (at least one).
 */
export async function benchmarkMocoStep(seconds: number, maxSteps = Number.POSITIVE_INFINITY): Promise<Benchmark> {
  const { batchSize, imageSize, queueSize } = DOCTOR_WORKLOAD;
  const moco = new Moco({ encoder: ENCODER, queueSize, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true }, batchSize, 0);
  const sgd = new SgdMomentum({ learningRate: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 });
  const shape: [number, number, number, number] = [batchSize, imageSize, imageSize, 3];
  const xq = tf.randomUniform<tf.Rank.R4>(shape);
  const xk = tf.randomUniform<tf.Rank.R4>(shape);
  try {
    const started = performance.now();
    // trainStep reads its metrics back, so each step has finished when it returns (GPU included).
    if (maxSteps > 1) await moco.trainStep(xq, xk, sgd, 0.03);
    const times: number[] = [];
    while (times.length < maxSteps && (times.length === 0 || performance.now() - started < seconds * 1000)) {
      const t0 = performance.now();
      await moco.trainStep(xq, xk, sgd, 0.03);
      times.push(performance.now() - t0);
    }
    const stepMs = median(times);
    return { imagesPerSecond: Number(((batchSize * 1000) / stepMs).toFixed(2)), stepMs: Number(stepMs.toFixed(1)), steps: times.length };
  } finally {
    xq.dispose();
    xk.dispose();
    sgd.dispose();
    moco.dispose();
  }
}

/** The worker-pool benchmark, whose failure is a note on the wasm row and never fails the doctor. */
async function measureWorkers(benchmark: (seconds: number) => Promise<WorkersBenchmark>, seconds: number, log: (message: string) => void): Promise<WorkersBenchmark> {
  try {
    const result = await benchmark(seconds);
    log(`wasm, ${result.count} worker threads: ${result.imagesPerSecond ?? '-'} img/s (${result.note})`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { count: 1, imagesPerSecond: null, stepMs: null, steps: 0, note: `worker threads failed to start: ${message}; training uses one thread` };
  }
}

/** Fastest benchmarked first, then the other backends that load, then the rest (default order within each group). */
export function preferredOrder(checks: readonly BackendCheck[]): BackendName[] {
  const rank = (c: BackendCheck): number => (c.imagesPerSecond !== null ? 0 : c.loads ? 1 : 2);
  return [...checks]
    .sort((a, b) => rank(a) - rank(b) || (b.imagesPerSecond ?? 0) - (a.imagesPerSecond ?? 0) || BACKEND_NAMES.indexOf(a.name) - BACKEND_NAMES.indexOf(b.name))
    .map((c) => c.name);
}

/** Loads each backend, explains the failures, benchmarks the ones that load. Leaves the last loaded backend current. */
export async function runBackendDoctor(options: DoctorOptions = {}): Promise<BackendReport> {
  const seconds = options.seconds ?? 10;
  const where = options.where ?? { platform: process.platform, arch: process.arch };
  const log = options.log ?? ((): void => undefined);
  const names = options.backends ?? BACKEND_NAMES;
  const now = options.now ?? ((): Date => new Date());
  const createdAt = now().toISOString();

  const load = options.allowFallbackAdapter !== undefined ? { allowFallbackAdapter: options.allowFallbackAdapter } : {};
  const loaded: BackendCheck[] = [];
  for (const name of names) {
    try {
      const { adapter } = await initialiseBackend(name, load);
      const reason = name === 'cpu' ? 'loads (pure JavaScript: correct but far too slow for convolution training)'
        : adapter?.software === true ? 'loads on a software adapter (allowed for this check; training\'s auto skips it)' : 'loads';
      loaded.push({ name, loads: true, reason, advice: null, imagesPerSecond: null, stepMs: null, steps: 0, benchmarkNote: null, ...(name === 'webgpu' ? { adapter } : {}) });
    } catch (error) {
      const { reason, advice } = explainBackendFailure(name, error, where);
      const adapter = error instanceof WebGpuUnavailable ? error.adapter : null;
      loaded.push({ name, loads: false, reason, advice, imagesPerSecond: null, stepMs: null, steps: 0, benchmarkNote: 'not benchmarked: the backend does not load', ...(name === 'webgpu' ? { adapter } : {}) });
    }
    log(`${name}: ${loaded[loaded.length - 1]!.reason}`);
  }

  const fast = loaded.filter((c) => c.loads && c.name !== 'cpu');
  // The wasm worker-pool figure is one more share of the budget.
  const wasmWorkers = options.benchmarkWorkers !== undefined && fast.some((c) => c.name === 'wasm');
  const share = fast.length > 0 ? seconds / (fast.length + (wasmWorkers ? 1 : 0)) : seconds;
  const checks: BackendCheck[] = [];
  for (const check of loaded) {
    if (!check.loads) {
      checks.push(check);
      continue;
    }
    if (check.name === 'cpu' && options.cpuStep !== true) {
      checks.push({ ...check, benchmarkNote: 'skipped: the pure-JavaScript cpu backend takes about 30 s for one step of this tiny model (hundreds of times slower than wasm); it is only the last resort (moco-studio doctor --cpu times one step)' });
      continue;
    }
    try {
      await initialiseBackend(check.name, load);
      const isCpu = check.name === 'cpu';
      log(`${check.name}: benchmarking ${isCpu ? 'one step' : `for ${share.toFixed(1)} s`}...`);
      const result = await benchmarkMocoStep(share, isCpu ? 1 : Number.POSITIVE_INFINITY);
      log(`${check.name}: ${result.imagesPerSecond} img/s (${result.stepMs} ms per step, ${result.steps} step(s))`);
      const workers = check.name === 'wasm' && options.benchmarkWorkers ? await measureWorkers(options.benchmarkWorkers, share, log) : undefined;
      checks.push({ ...check, ...result, benchmarkNote: isCpu ? 'one step only (no warm-up): the cpu backend is very slow' : null, ...(workers ? { workers } : {}) });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      checks.push({ ...check, reason: `loads, but a training step failed: ${message}`, advice: 'Training cannot use this backend; it falls back to the next one.', benchmarkNote: 'benchmark failed' });
    }
  }

  const benchmarked = checks.filter((c) => c.imagesPerSecond !== null);
  const fastest = benchmarked.length > 0 ? benchmarked.reduce((a, b) => ((b.imagesPerSecond ?? 0) > (a.imagesPerSecond ?? 0) ? b : a)).name : null;
  return {
    createdAt, platform: where.platform, arch: where.arch, node: process.version, seconds,
    workload: { ...DOCTOR_WORKLOAD },
    backends: checks, fastest, order: preferredOrder(checks),
  };
}

/**
 * The order training's 'auto' should try, from a stored report: null when the report is stale
 * (older than REPORT_MAX_AGE_MS, from the future, or from another platform/architecture) or
 * measured nothing, so the default order applies.
 */
export function orderFromReport(report: BackendReport, now: Date = new Date(), where: PlatformInfo = { platform: process.platform, arch: process.arch }): BackendName[] | null {
  const age = now.getTime() - Date.parse(report.createdAt);
  if (!Number.isFinite(age) || age < -60_000 || age > REPORT_MAX_AGE_MS) return null;
  if (report.platform !== where.platform || report.arch !== where.arch) return null;
  if (report.fastest === null) return null;
  return report.order.length > 0 ? [...report.order] : null;
}

/** A few lines for a terminal. */
export function formatBackendReport(report: BackendReport): string {
  const lines = [`Backend doctor (${report.platform} ${report.arch}, Node ${report.node}; step: MoCo, ${report.workload.model}, ${report.workload.imageSize} px, batch ${report.workload.batchSize})`];
  for (const c of report.backends) {
    lines.push(`  ${c.loads ? 'OK  ' : 'NO  '} ${c.name.padEnd(10)} ${c.imagesPerSecond !== null ? `${c.imagesPerSecond} img/s (${c.stepMs} ms/step, ${c.steps} step(s))` : ''}`.trimEnd());
    if (c.adapter) lines.push(`         Adapter: ${formatAdapter(c.adapter)}`);
    if (c.workers && c.workers.count > 1) lines.push(`         ${c.workers.count} worker threads: ${c.workers.imagesPerSecond !== null ? `${c.workers.imagesPerSecond} img/s (${c.workers.stepMs} ms/step)` : 'not measured'}; ${c.workers.note}`);
    else if (c.workers) lines.push(`         Worker threads: ${c.workers.note}`);
    lines.push(`         ${c.reason}`);
    if (c.advice) lines.push(`         What to do: ${c.advice}`);
    if (c.benchmarkNote && c.loads) lines.push(`         Benchmark: ${c.benchmarkNote}`);
  }
  lines.push(report.fastest ? `Fastest: ${report.fastest}. Training ('auto') tries: ${report.order.join(' -> ')}.` : 'No backend could be benchmarked.');
  return lines.join('\n');
}
