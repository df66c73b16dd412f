/**
 * `npm run bench`: speed and memory of a full MoCo training step (key forward with shuffle BN,
 * query forward + backward, SGD, momentum update, enqueue) on the chosen backend, beside the
 * PyTorch reference of the same step (../shared/bench/moco_step_torch.py) run in the same go.
 * Prints one JSON document on stdout (progress goes to stderr). Compare ratios, not absolute
 * times across runs: the machines are shared and noisy.
 *
 *   npm run bench [-- --quick] [-- --configs r18-32-w1,r18-32-w025] [-- --reps 3] [-- --no-torch] [-- --backend webgpu]
 *
 * --backend (default: auto, or MOCO_BACKEND) picks the backend as training does; on any backend
 * other than wasm each row also times the same step on wasm (`wasm`, `speedRatioVsWasm`), so a
 * GPU's img/s stands beside the CPU path's (issue 8).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { chooseBackend, initialiseBackend, parseBackendName, type BackendName } from '../ml/backend.js';
import { Moco, type PhaseTimes } from '../ml/moco.js';
import { SgdMomentum } from '../ml/optimizer.js';
import type { EncoderConfig } from '../ml/resnet.js';

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
  // 96 px uses the ImageNet stem (stride-2 conv + max-pool), as the app chooses above 64 px; the
  // torch script has no such model, so this row has no reference ratio.
  { id: 'r18-96-w1', imageSize: 96, batchSize: 32, encoder: r18(1, false), torchWidths: null },
];

// The torch reference's step: K=4096, m=0.99, T=0.2, SGD lr 0.03 momentum 0.9 wd 5e-4.
const QUEUE_SIZE = 4096;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function wasmHeapBytes(): number | null {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.length ?? null;
}

async function benchOurs(config: BenchConfig, reps: number): Promise<Record<string, unknown>> {
  const moco = new Moco({ encoder: config.encoder, queueSize: QUEUE_SIZE, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true }, config.batchSize, 0);
  const sgd = new SgdMomentum({ learningRate: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 });
  const shape: [number, number, number, number] = [config.batchSize, config.imageSize, config.imageSize, 3];
  const xq = tf.randomUniform<tf.Rank.R4>(shape);
  const xk = tf.randomUniform<tf.Rank.R4>(shape);
  const totals: number[] = [];
  const phaseRuns: PhaseTimes[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    const phases: PhaseTimes = {};
    const started = performance.now();
    // trainStep awaits its metrics' read-back, so the step has finished on a GPU too.
    await moco.trainStep(xq, xk, sgd, 0.03, phases);
    const ms = performance.now() - started;
    process.stderr.write(`  ${config.id} step ${rep}${rep === 0 ? ' (warm-up)' : ''}: ${ms.toFixed(0)} ms\n`);
    if (rep > 0) {
      totals.push(ms);
      phaseRuns.push(phases);
    }
  }
  const stepMs = median(totals);
  const phaseNames = Object.keys(phaseRuns[0] ?? {});
  const result = {
    stepMs: Math.round(stepMs),
    imagesPerSecond: Number(((config.batchSize * 1000) / stepMs).toFixed(2)),
    phasesMs: Object.fromEntries(phaseNames.map((n) => [n, Math.round(median(phaseRuns.map((p) => p[n] ?? 0)))])),
    parameters: moco.queryEncoder.variables.parameterCount(),
    tensorBytes: tf.memory().numBytes,
    wasmHeapBytes: wasmHeapBytes(),
  };
  xq.dispose();
  xk.dispose();
  sgd.dispose();
  moco.dispose();
  return result;
}

async function benchTorch(config: BenchConfig, reps: number, threads: number): Promise<Record<string, unknown>> {
  const script = process.env.MOCO_TORCH_BENCH ?? resolve(process.cwd(), '../shared/bench/moco_step_torch.py');
  const python = process.env.MOCO_TORCH_PYTHON ?? '/usr/bin/python3';
  if (!config.torchWidths) return { unavailable: 'the reference script has no ImageNet-stem model' };
  if (!existsSync(script)) return { unavailable: `reference script not found at ${script} (set MOCO_TORCH_BENCH)` };
  try {
    const args = [script, config.torchWidths, String(config.batchSize), String(config.imageSize), String(reps), String(threads)];
    const { stdout } = await promisify(execFile)(python, args, { timeout: 600_000, maxBuffer: 1 << 22 });
    const last = stdout.trim().split('\n').pop() ?? '{}';
    return JSON.parse(last) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { unavailable: `PyTorch reference failed: ${message} (apt-get install python3-torch)` };
  }
}

function parseArgs(argv: readonly string[]): { reps: number; configs: readonly BenchConfig[]; torch: boolean; backend: BackendName | 'auto' | undefined } {
  let reps = 3;
  let configs = CONFIGS;
  let torch = true;
  let backend: BackendName | 'auto' | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') {
      reps = 1;
      configs = CONFIGS.filter((c) => c.id === 'r18-32-w025');
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
    } else if (arg === '--no-torch') {
      torch = false;
    } else if (arg === '--backend') {
      backend = parseBackendName(argv[++i] ?? '', '--backend');
    } else {
      throw new Error(`Unknown argument "${arg}"`);
    }
  }
  return { reps, configs, torch, backend };
}

async function main(): Promise<void> {
  const { reps, configs, torch, backend: wanted } = parseArgs(process.argv.slice(2));
  const backend = await chooseBackend({ env: process.env, ...(wanted ? { preferred: wanted } : {}) });
  const results = [];
  for (const config of configs) {
    process.stderr.write(`${config.id}: ${backend.name}\n`);
    const ours = await benchOurs(config, reps);
    let wasm: Record<string, unknown> | null = null;
    if (backend.name !== 'wasm') {
      process.stderr.write(`  ${config.id}: wasm, for comparison\n`);
      await initialiseBackend('wasm');
      wasm = await benchOurs(config, reps);
      await initialiseBackend(backend.name, { env: process.env });
    }
    const reference: Record<string, Record<string, unknown>> = {};
    if (torch) {
      for (const threads of [1, 2]) {
        process.stderr.write(`  ${config.id}: PyTorch, ${threads} thread(s)\n`);
        reference[`threads${threads}`] = await benchTorch(config, reps, threads);
      }
    }
    const ratio = (key: string): number | null => {
      const ips = reference[key]?.img_per_s_wall;
      return typeof ips === 'number' ? Number(((ours.imagesPerSecond as number) / ips).toFixed(3)) : null;
    };
    results.push({
      config: { id: config.id, imageSize: config.imageSize, batchSize: config.batchSize, queueSize: QUEUE_SIZE, ...config.encoder },
      ours,
      wasm,
      speedRatioVsWasm: wasm ? Number(((ours.imagesPerSecond as number) / (wasm.imagesPerSecond as number)).toFixed(3)) : null,
      pytorch: reference,
      speedRatioVsPytorch1Thread: ratio('threads1'),
      speedRatioVsPytorch2Threads: ratio('threads2'),
    });
  }
  const report = { tool: 'moco-studio bench', date: new Date().toISOString(), backend: backend.name, backendAttempts: backend.attempts, backendAdapter: backend.adapter, customKernels: backend.customKernels, node: process.version, results };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
