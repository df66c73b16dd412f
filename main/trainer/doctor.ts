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
import { orderFromReport, runBackendDoctor } from '../ml/doctor.js';

type DoctorCommand = Extract<TrainerCommand, { type: 'doctor' }>;

export async function doctorJob(command: DoctorCommand, log: (message: string) => void): Promise<TrainerEventOf<'doctor'>> {
  const report = await runBackendDoctor({ seconds: command.seconds, cpuStep: command.cpuStep === true, log });
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
