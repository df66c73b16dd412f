/**
 * Runs on disk. Every run lives in its own directory:
 *   run.json          id, folder, settings, status, summary (written atomically on every change)
 *   metrics.jsonl     one JSON object per step (appended; a torn last line is ignored on read)
 *   epochs.jsonl      one JSON object per epoch (mean loss, kNN)
 *   preview.json      the newest augmentation preview (a reopened run shows it)
 *   checkpoints/      self-verifying checkpoint files (main/trainer/checkpoint.ts)
 *   embeddings/       the embedding matrix and its manifest
 *   log.txt           what the trainer said, with times
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { runBackendSchema, runBaselinesSchema } from '../../shared/trainer-protocol.js';
import { resolvedSettingsSchema, trainingSettingsSchema, type TrainingSettings } from '../../shared/training-settings.js';
import { writeFileAtomic } from './atomic-file.js';
import { makeDirectory } from './make-directory.js';

export const RUN_FILE = 'run.json';

export const runRecordSchema = z.object({
  format: z.literal('moco-studio-run'),
  version: z.literal(1),
  id: z.string(),
  folder: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** What the user asked for. */
  userSettings: trainingSettingsSchema,
  /** The complete settings, fixed by the trainer when training first starts (null before). */
  settings: resolvedSettingsSchema.nullable(),
  status: z.enum(['created', 'training', 'stopped', 'finished', 'failed', 'crashed']),
  summary: z.record(z.string(), z.unknown()).nullable(),
  message: z.string().nullable(),
  /** kNN baselines measured before the first step: a resumed run keeps its random-init figure (issue 12 item 2). */
  baselines: runBaselinesSchema.nullable().optional(),
  /** The backend (and WebGPU adapter) the run last trained on. */
  backend: runBackendSchema.nullable().optional(),
  /** Steps per epoch, fixed once the usable images are counted: progress of a reopened run. */
  stepsPerEpoch: z.number().int().nullable().optional(),
});
export type RunRecord = z.infer<typeof runRecordSchema>;
export type RunStatus = RunRecord['status'];

export function runPaths(runDirectory: string) {
  return {
    record: join(runDirectory, RUN_FILE),
    metrics: join(runDirectory, 'metrics.jsonl'),
    epochs: join(runDirectory, 'epochs.jsonl'),
    checkpoints: join(runDirectory, 'checkpoints'),
    embeddings: join(runDirectory, 'embeddings'),
    log: join(runDirectory, 'log.txt'),
    preview: join(runDirectory, 'preview.json'),
  };
}

function timestampId(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

/** A new run directory under `runsRoot` (or exactly `runDirectory` when given). */
export async function createRun(options: { runsRoot: string; folder: string; userSettings: TrainingSettings; runDirectory?: string }): Promise<{ directory: string; record: RunRecord }> {
  const now = new Date();
  const safeName = basename(resolve(options.folder)).replace(/[^\p{L}\p{N}._-]+/gu, '_').slice(0, 40) || 'images';
  const directory = options.runDirectory ? resolve(options.runDirectory) : join(options.runsRoot, `${timestampId(now)}-${safeName}`);
  const existing = await readdir(directory).catch((error: unknown) => error as NodeJS.ErrnoException);
  if (Array.isArray(existing) && existing.includes(RUN_FILE)) throw new Error(`Run directory ${directory} already holds a run; use --resume ${directory} to continue it`);
  // One level at a time, with a sentence for every errno (a recursive mkdir spins for ever under /proc).
  await makeDirectory(join(directory, 'checkpoints'), 'the run directory');
  const record: RunRecord = {
    format: 'moco-studio-run', version: 1, id: basename(directory), folder: resolve(options.folder),
    createdAt: now.toISOString(), updatedAt: now.toISOString(), userSettings: options.userSettings, settings: null, status: 'created', summary: null, message: null,
  };
  await writeRunRecord(directory, record);
  return { directory, record };
}

export async function writeRunRecord(runDirectory: string, record: RunRecord): Promise<void> {
  await writeFileAtomic(runPaths(runDirectory).record, `${JSON.stringify({ ...record, updatedAt: new Date().toISOString() }, null, 2)}\n`);
}

export async function readRunRecord(runDirectory: string): Promise<RunRecord> {
  const path = runPaths(runDirectory).record;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${runDirectory} is not a MoCo Studio run (no ${RUN_FILE})` : `Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON`, { cause: error });
  }
  const parsed = runRecordSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} is not a valid run record: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export async function updateRunRecord(runDirectory: string, change: Partial<Pick<RunRecord, 'status' | 'summary' | 'message' | 'settings' | 'baselines' | 'backend' | 'stepsPerEpoch'>>): Promise<RunRecord> {
  const record = { ...(await readRunRecord(runDirectory)), ...change };
  await writeRunRecord(runDirectory, record);
  return record;
}

/** Reads a JSON Lines file, skipping a torn final line left by a crash mid-append. */
export async function readJsonLines(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const rows: unknown[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line));
    } catch {
      // a torn last line from a crash; everything before it is intact
    }
  }
  return rows;
}

/** Runs under `runsRoot`, newest first; unreadable entries are reported, not thrown. */
export async function listRuns(runsRoot: string): Promise<{ runs: { directory: string; record: RunRecord }[]; problems: { directory: string; reason: string }[] }> {
  const runs: { directory: string; record: RunRecord }[] = [];
  const problems: { directory: string; reason: string }[] = [];
  let names: string[];
  try {
    names = await readdir(runsRoot);
  } catch {
    return { runs, problems };
  }
  for (const name of names) {
    const directory = join(runsRoot, name);
    try {
      if (!(await stat(directory)).isDirectory()) continue;
      runs.push({ directory, record: await readRunRecord(directory) });
    } catch (error) {
      problems.push({ directory, reason: (error as Error).message });
    }
  }
  runs.sort((a, b) => b.record.createdAt.localeCompare(a.record.createdAt));
  return { runs, problems };
}

/**
 * On resume, the history must match the checkpoint: steps after it (trained before a crash,
 * about to be trained again) are dropped from metrics.jsonl, and epochs it does not include
 * from epochs.jsonl, so charts never show a step twice. Rewritten atomically.
 */
export async function truncateRunHistory(runDirectory: string, globalStep: number, epochsDone: number): Promise<void> {
  const paths = runPaths(runDirectory);
  const keep = async (path: string, predicate: (row: Record<string, unknown>) => boolean): Promise<void> => {
    const rows = (await readJsonLines(path)) as Record<string, unknown>[];
    const kept = rows.filter(predicate);
    if (kept.length !== rows.length) await writeFileAtomic(path, kept.map((row) => `${JSON.stringify(row)}\n`).join(''));
  };
  await keep(paths.metrics, (row) => typeof row.step === 'number' && row.step <= globalStep);
  await keep(paths.epochs, (row) => typeof row.epoch === 'number' && row.epoch < epochsDone);
}
