/**
 * `npm run bench`: speed and memory of a full MoCo training step (key forward with shuffle BN,
 * query forward + backward, SGD, momentum update, enqueue) on the chosen backend, beside the
 * PyTorch reference of the same step (../shared/bench/moco_step_torch.py) run in the same go.
 * Prints one JSON document on stdout (progress goes to stderr). Compare ratios, not absolute
 * times across runs: the machines are shared and noisy.
 *
 * Ours runs at each worker count W of --workers (default 1,2; W=1 is the in-process step, W>1 the
 * worker-thread pool, issue 9), PyTorch at the same thread counts, and the JSON gives the ratio at
 * equal cores, the per-phase milliseconds of every worker, each worker's wasm heap, and the
 * machine's load (`uptime`) before and after, since the machines are shared.
 *
 *   npm run bench [-- --quick] [-- --configs r18-32-w1,r18-32-w025] [-- --reps 3] [-- --rounds 3] [-- --warmup 1] [-- --workers 1,2] [-- --no-torch]
 *   --rounds R (default 3): ours and PyTorch alternate, R rounds of --reps timed steps each (ours
 *     keeps its pool; PyTorch runs its script once a round, with its untimed steps). The ratio is
 *     the median over rounds of each round's pair, measured minutes apart at most: this machine's
 *     speed drifts by 20-50 % over a minute or two (a W=2 full-width step 1,405 ms in one run,
 *     2,014 in the next; both workers slower together), which a single back-to-back pair took
 *     straight into the ratio. `equalCoreRatiosByRound` keeps every round's ratio.
 *   --warmup N: untimed steps before the timed ones, on both sides (default 5): ours runs N, and the
 *     PyTorch script runs its own warm-up step plus N - 1 more, which are left out of its median here
 *     (its per-step times are in the JSON, as are our warm-up steps). Ours settles over its first
 *     few steps: V8 compiles the JavaScript around the kernels on background threads, which at W =
 *     the core count compete with the workers (W=2, width 1/4: 374, 255, 207 ms after the first
 *     step, then about 200); PyTorch is steady after its first. `--warmup 1` gives the cold figure.
 *   --quick: both 32 px configurations, 2 rounds of 2 timed steps: the equal-core ratios in about
 *     2 minutes, noisier than the default's 3 rounds (one --quick run had full width W=2 at 0.49)
 *   --backend webgpu: each row also has `wasm` (the same step on wasm, same run) and
 *     `webgpuVsWasm`; on a software adapter --quick runs the tiny r18-16-w0625 row only
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { chooseBackend, initialiseBackend, parseBackendName, type BackendName } from '../ml/backend.js';
import type { ComputeHost } from '../ml/compute-host.js';
import { InProcessHost } from '../ml/in-process-host.js';
import { Moco, type MocoConfig, type PhaseTimes } from '../ml/moco.js';
import { SgdMomentum, type SgdConfig } from '../ml/optimizer.js';
import { parameterCount, type EncoderConfig } from '../ml/resnet.js';
import { startWorkerPool } from '../trainer/worker-channel.js';
import { benchTorch, combineTorchRounds, median } from './torch-reference.js';

interface BenchConfig {
  readonly id: string;
  readonly imageSize: number;
  readonly batchSize: number;
  readonly encoder: EncoderConfig;
  /** Channel widths for the torch script (its model is the small-stem ResNet-18 only). */
  readonly torchWidths: string | null;
}

const r18 = (widthMultiplier: number, smallImageStem: boolean): EncoderConfig => ({
  architecture: 'resnet18', widthMultiplier, smallImageStem, head: 'linear', dim: 128, bnSplits: 8,
});

const CONFIGS: readonly BenchConfig[] = [
  { id: 'r18-32-w1', imageSize: 32, batchSize: 32, encoder: r18(1, true), torchWidths: '64,128,256,512' },
  { id: 'r18-32-w025', imageSize: 32, batchSize: 32, encoder: r18(0.25, true), torchWidths: '16,32,64,128' },
  // The product's CPU default since issue 10 (width 1/8 at 32 px); not in --quick, which keeps the two rows.
  { id: 'r18-32-w0125', imageSize: 32, batchSize: 32, encoder: r18(0.125, true), torchWidths: '8,16,32,64' },
  // 96 px uses the ImageNet stem (stride-2 conv + max-pool), as the app chooses above 64 px; the
  // torch script has no such model, so this row has no reference ratio.
  { id: 'r18-96-w1', imageSize: 96, batchSize: 32, encoder: r18(1, false), torchWidths: null },
  // Issue 8: `--quick` on a software WebGPU adapter (SwiftShader, llvmpipe: ~150 s a step of
  // r18-32-w025), so that webgpu and wasm both get a row in minutes. Correctness, not speed.
  { id: 'r18-16-w0625', imageSize: 16, batchSize: 16, encoder: r18(1 / 16, true), torchWidths: '4,8,16,32' },
];
const SOFTWARE_ADAPTER_QUICK = 'r18-16-w0625';

// The torch reference's step: K=4096, m=0.99, T=0.2, SGD lr 0.03 momentum 0.9 wd 5e-4.
const QUEUE_SIZE = 4096;

const SGD: SgdConfig = { learningRate: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 };

function mocoConfig(config: BenchConfig): MocoConfig {
  return { encoder: config.encoder, queueSize: QUEUE_SIZE, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true };
}

function load(): number[] {
  return loadavg().map((v) => Number(v.toFixed(2)));
}

/** Random pixels in [0, 1), as tf.randomUniform gave the previous bench. */
function randomPixels(count: number, seed: number): Float32Array {
  let x = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) / 4294967296;
  });
}

/** W=1: the in-process step (this thread); W>1: the worker-thread pool. */
async function openHost(config: BenchConfig, workers: number): Promise<{ host: ComputeHost; dispose: () => Promise<void> }> {
  if (workers === 1) {
    const moco = new Moco(mocoConfig(config), config.batchSize, 0);
    const sgd = new SgdMomentum(SGD);
    return { host: new InProcessHost(moco, sgd), dispose: () => { moco.dispose(); sgd.dispose(); return Promise.resolve(); } };
  }
  const host = await startWorkerPool({ moco: mocoConfig(config), sgd: SGD, seed: 0, batchSize: config.batchSize, workers, backend: 'wasm' });
  return { host, dispose: () => host.dispose() };
}

/** Untimed steps of ours before the timed ones (--warmup). */
let warmupSteps = 5;
let warmupGiven = false;

/**
 * Ours: the untimed steps, then `rounds` rounds of `reps` timed steps, with `afterRound` run after
 * each (the PyTorch round beside it, so that both sides sample the same minutes of a shared machine).
 */
async function benchOurs(config: BenchConfig, reps: number, workers: number, rounds = 1, afterRound: () => Promise<void> = () => Promise.resolve()): Promise<Record<string, unknown>> {
  const { host, dispose } = await openHost(config, workers);
  const per = config.imageSize * config.imageSize * 3 * config.batchSize;
  const batch = { queryPixels: randomPixels(per, 1), keyPixels: randomPixels(per, 2), count: config.batchSize, imageSize: config.imageSize };
  const totals: number[] = [];
  const roundStepMs: number[] = [];
  const warmups: number[] = [];
  const phaseRuns: (readonly PhaseTimes[])[] = [];
  const step = async (label: string): Promise<{ ms: number; phases: readonly PhaseTimes[] }> => {
    const started = performance.now();
    const outcome = await host.step(batch, 0.03, { timePhases: true });
    const ms = performance.now() - started;
    process.stderr.write(`  ${config.id} W=${workers} ${label}: ${ms.toFixed(0)} ms\n`);
    return { ms, phases: outcome.phasesByReplica ?? [] };
  };
  try {
    for (let i = 0; i < warmupSteps; i++) warmups.push(Math.round((await step(`step ${i + 1 - warmupSteps} (warm-up)`)).ms));
    for (let round = 1; round <= rounds; round++) {
      const times: number[] = [];
      for (let rep = 1; rep <= reps; rep++) {
        const { ms, phases } = await step(`round ${round} step ${rep}`);
        times.push(ms);
        phaseRuns.push(phases);
      }
      totals.push(...times);
      roundStepMs.push(Math.round(median(times)));
      await afterRound();
    }
    const stepMs = median(totals);
    const phasesByWorker = Array.from({ length: workers }, (_, w) => {
      const names = Object.keys(phaseRuns[0]?.[w] ?? {});
      return Object.fromEntries(names.map((n) => [n, Math.round(median(phaseRuns.map((p) => p[w]?.[n] ?? 0)))]));
    });
    const heaps = await host.heapBytes();
    return {
      workers,
      warmupSteps,
      warmupStepMs: warmups,
      stepMs: Math.round(stepMs),
      timedStepMs: totals.map(Math.round),
      roundStepMs,
      bestStepMs: Math.round(Math.min(...totals)),
      imagesPerSecond: Number(((config.batchSize * 1000) / stepMs).toFixed(2)),
      bestImagesPerSecond: Number(((config.batchSize * 1000) / Math.min(...totals)).toFixed(2)),
      phasesMsByWorker: phasesByWorker,
      parameters: parameterCount(config.encoder),
      wasmHeapBytesByWorker: heaps,
      wasmHeapBytesTotal: heaps.includes(null) ? null : (heaps as readonly number[]).reduce((a, h) => a + h, 0),
      ...(workers === 1 ? { tensorBytes: tf.memory().numBytes } : {}),
    };
  } finally {
    await dispose();
  }
}

interface BenchArgs {
  reps: number; rounds: number; configs: readonly BenchConfig[]; torch: boolean; workers: readonly number[]; backend: BackendName | 'auto' | undefined; quick: boolean;
}

function parseArgs(argv: readonly string[]): BenchArgs {
  let reps = 3;
  let rounds = 3;
  let configs = CONFIGS;
  let torch = true;
  let workers: readonly number[] = [1, 2];
  let backend: BackendName | 'auto' | undefined;
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') {
      quick = true;
      reps = 2;
      rounds = 2;
      configs = CONFIGS.filter((c) => c.id === 'r18-32-w1' || c.id === 'r18-32-w025');
    } else if (arg === '--warmup') {
      warmupGiven = true;
      warmupSteps = Number(argv[++i]);
      // At least 1: the PyTorch script always runs its own warm-up step, so 0 would not be equal.
      if (!Number.isInteger(warmupSteps) || warmupSteps < 1) throw new Error(`--warmup: expected a whole number of untimed steps, 1 or more (the PyTorch script always runs one), got ${argv[i]}`);
    } else if (arg === '--rounds') {
      rounds = Number(argv[++i]);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: expected a positive integer, got ${argv[i]}`);
    } else if (arg === '--reps') {
      reps = Number(argv[++i]);
      if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer, got ${argv[i]}`);
    } else if (arg === '--configs') {
      const ids = (argv[++i] ?? '').split(',');
      configs = ids.map((id) => {
        const c = CONFIGS.find((x) => x.id === id);
        if (!c) throw new Error(`--configs: unknown id "${id}"; known: ${CONFIGS.map((x) => x.id).join(', ')}`);
        return c;
      });
    } else if (arg === '--workers') {
      workers = (argv[++i] ?? '').split(',').map(Number);
      if (workers.length === 0 || !workers.every((w) => Number.isInteger(w) && w >= 1 && w <= 64)) throw new Error(`--workers: expected a comma-separated list of worker counts (1-64), got ${argv[i]}`);
    } else if (arg === '--no-torch') {
      torch = false;
    } else if (arg === '--backend') {
      backend = parseBackendName(argv[++i] ?? '', '--backend');
    } else {
      throw new Error(`Unknown argument "${arg}"`);
    }
  }
  return { reps, rounds, configs, torch, workers, backend, quick };
}

/** Ours' img/s over PyTorch's, round by round (each pair measured back to back), and their median. */
function equalCoreRatio(oursRoundMs: readonly number[], torchRounds: readonly Record<string, unknown>[]): { ratio: number | null; byRound: number[] } {
  const byRound = oursRoundMs.flatMap((ms, r) => {
    const theirs = torchRounds[r]?.median_step_wall_ms;
    return typeof theirs === 'number' ? [Number((theirs / ms).toFixed(3))] : [];
  });
  return { ratio: byRound.length === oursRoundMs.length && byRound.length > 0 ? Number(median(byRound).toFixed(3)) : null, byRound };
}

async function main(): Promise<void> {
  const { reps, rounds, configs: asked, torch, workers, backend: wanted, quick } = parseArgs(process.argv.slice(2));
  const backend = await chooseBackend({ env: process.env, ...(wanted ? { preferred: wanted } : {}) });
  const softwareAdapter = backend.adapter?.software === true;
  const configs = quick && softwareAdapter ? CONFIGS.filter((c) => c.id === SOFTWARE_ADAPTER_QUICK) : asked;
  if (softwareAdapter && !warmupGiven) warmupSteps = 1; // seconds a step there, and no speed claim to make
  const loadBefore = load();
  const results = [];
  for (const config of configs) {
    process.stderr.write(`${config.id}: ${backend.name}\n`);
    const ours: Record<string, Record<string, unknown>> = {};
    const reference: Record<string, Record<string, unknown>> = {};
    const ratios: Record<string, number | null> = {};
    const ratiosByRound: Record<string, number[]> = {};
    for (const w of workers) {
      if (w > 1 && backend.name !== 'wasm') continue; // the pool is for the wasm backend
      // Equal cores: ours on W workers against PyTorch on W threads, round by round, interleaved.
      const torchRounds: Record<string, unknown>[] = [];
      const torchRound = async (): Promise<void> => {
        if (!torch) return;
        if (!config.torchWidths) { torchRounds.push({ unavailable: 'the reference script has no ImageNet-stem model' }); return; }
        process.stderr.write(`  ${config.id}: PyTorch, ${w} thread(s), round ${torchRounds.length + 1}\n`);
        const run = { widths: config.torchWidths, batchSize: config.batchSize, imageSize: config.imageSize, reps, threads: w, untimed: warmupSteps };
        torchRounds.push({ loadBefore: load(), ...(await benchTorch(run)) });
      };
      // Without a reference there is nothing to interleave: one round.
      const roundsHere = torch && config.torchWidths ? rounds : 1;
      ours[`workers${w}`] = { loadBefore: load(), ...(await benchOurs(config, reps, w, roundsHere, torchRound)) };
      if (!torch) continue;
      reference[`threads${w}`] = combineTorchRounds(torchRounds, config.batchSize);
      const { ratio, byRound } = equalCoreRatio(ours[`workers${w}`]!.roundStepMs as number[], torchRounds);
      ratios[`workers${w}VsThreads${w}`] = ratio;
      ratiosByRound[`workers${w}VsThreads${w}`] = byRound;
    }
    results.push({
      config: { id: config.id, imageSize: config.imageSize, batchSize: config.batchSize, queueSize: QUEUE_SIZE, ...config.encoder },
      ours,
      pytorch: reference,
      equalCoreRatios: ratios,
      equalCoreRatiosByRound: ratiosByRound,
    });
  }
  // webgpu (issue 8): the same step on wasm in the same run, one row each, and the ratio.
  if (backend.name === 'webgpu') {
    await initialiseBackend('wasm');
    for (const [i, config] of configs.entries()) {
      process.stderr.write(`${config.id}: wasm (beside webgpu)\n`);
      const loadBeforeWasm = load();
      const wasm = await benchOurs(config, reps, 1);
      const gpu = results[i]!.ours.workers1?.imagesPerSecond;
      Object.assign(results[i]!, { wasm: { loadBefore: loadBeforeWasm, ...wasm }, webgpuVsWasm: typeof gpu === 'number' ? Number((gpu / (wasm.imagesPerSecond as number)).toFixed(3)) : null });
    }
  }
  const adapterNote = softwareAdapter ? 'software WebGPU adapter (a CPU emulating a GPU): webgpu figures show that the route works, they are not a speed claim' : undefined;
  const report = { tool: 'moco-studio bench', date: new Date().toISOString(), backend: backend.name, backendAdapter: backend.adapter, ...(adapterNote ? { adapterNote } : {}), backendAttempts: backend.attempts, customKernels: backend.customKernels, node: process.version, load: { before: loadBefore, after: load(), note: 'load average over 1, 5, 15 min (uptime); ratios are depressed when it exceeds the core count' }, results };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
