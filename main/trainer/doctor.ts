/**
 * The backend doctor as a trainer job, and the trainer's reading of its stored report: the report
 * is JSON in the data directory (`backend-report.json`), written atomically; training's 'auto'
 * backend choice prefers the fastest measured backend while the report is fresh. main/ml stays
 * free of fs: the order read here is passed down to chooseBackend.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TrainerCommand, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { readBackendReport } from '../core/backend-report.js';
import { TFJS_NODE_GPU, type BackendName } from '../ml/backend.js';
import { benchmarkHostStep, doctorHostConfig, orderFromReport, runBackendDoctor, type WorkersBenchmark } from '../ml/doctor.js';
import { chooseWorkers } from '../../shared/workers.js';
import { coreCount } from './compute-hosts.js';
import { startWorkerPool } from './worker-channel.js';

type DoctorCommand = Extract<TrainerCommand, { type: 'doctor' }>;

/**
 * The doctor's step over the default worker count (issue 9), as training would choose it for this
 * workload's batch and BatchNorm groups on this machine's cores: the wasm row's W=1 figure is the
 * in-process step, this is the default W beside it.
 */
export async function benchmarkDefaultWorkers(seconds: number): Promise<WorkersBenchmark> {
  const { moco, sgd, batchSize } = doctorHostConfig();
  const choice = chooseWorkers(undefined, moco.encoder.bnSplits, batchSize, 'wasm', coreCount());
  if (choice.workers <= 1) return { count: 1, imagesPerSecond: null, stepMs: null, steps: 0, note: `${choice.reason}: the one-thread figure is what training gets` };
  const host = await startWorkerPool({ moco, sgd, seed: 0, batchSize, workers: choice.workers, backend: 'wasm' });
  try {
    const result = await benchmarkHostStep(host, seconds);
    return { count: choice.workers, ...result, note: choice.reason };
  } finally {
    await host.dispose();
  }
}

export async function doctorJob(command: DoctorCommand, log: (message: string) => void): Promise<TrainerEventOf<'doctor'>> {
  const report = await runBackendDoctor({ seconds: command.seconds, cpuStep: command.cpuStep === true, log, benchmarkWorkers: benchmarkDefaultWorkers });
  if (command.reportPath) {
    await mkdir(dirname(command.reportPath), { recursive: true });
    await writeFileAtomic(command.reportPath, `${JSON.stringify(report, null, 2)}\n`);
  }
  return { type: 'doctor', report };
}

function nodeGpuResolves(): boolean {
  try {
    import.meta.resolve(TFJS_NODE_GPU);
    return true;
  } catch {
    return false;
  }
}

/**
 * The 'auto' order from a fresh stored report, or undefined (the default order). A report that
 * found tfjs-node-gpu missing is stale once it is installed: the default order (GPU first) applies
 * until the doctor runs again.
 */
export async function preferredBackendOrder(path: string | undefined): Promise<BackendName[] | undefined> {
  if (!path) return undefined;
  const report = await readBackendReport(path);
  if (!report) return undefined;
  const tensorflow = report.backends.find((b) => b.name === 'tensorflow');
  if (tensorflow && !tensorflow.loads && nodeGpuResolves()) return undefined;
  return orderFromReport(report) ?? undefined;
}
