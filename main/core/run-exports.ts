/**
 * Reading runs for the UI (list items, decimated metrics) and writing their exports
 * (embeddings as CSV / .npy via the embedding store) into `<run>/exports/`.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetricPoint, RunDetails } from '../../shared/contract.js';
import { knnConfusionSchema, unsupervisedSignalSchema } from '../../shared/trainer-protocol.js';
import { exportCsv, exportNpy, MANIFEST_FILE, type Embeddings } from './embeddings/embedding-store.js';
import { readJsonLines, runPaths } from './run-store.js';

export const MAX_METRIC_POINTS = 2000;

export function exportsDirectory(runDirectory: string): string {
  return join(runDirectory, 'exports');
}

/** At most `limit` items: every n-th one (n = ceil(length / limit), first included) plus the last. */
export function decimate<T>(items: readonly T[], limit = MAX_METRIC_POINTS): T[] {
  if (items.length <= limit) return [...items];
  const n = Math.ceil(items.length / (limit - 1));
  const kept: T[] = [];
  for (let i = 0; i < items.length - 1; i += n) kept.push(items[i]!);
  kept.push(items[items.length - 1]!);
  return kept;
}

function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** metrics.jsonl rows as chart points (rows with a missing or non-finite field are dropped), decimated. */
export async function readMetricPoints(runDirectory: string): Promise<MetricPoint[]> {
  const points: MetricPoint[] = [];
  for (const row of await readJsonLines(runPaths(runDirectory).metrics)) {
    if (typeof row !== 'object' || row === null) continue;
    const r = row as Record<string, unknown>;
    const fields = [finite(r.step), finite(r.epoch), finite(r.loss), finite(r.top1), finite(r.top5), finite(r.learningRate), finite(r.embeddingStd)];
    if (fields.some((f) => f === null)) continue;
    const [step, epoch, loss, top1, top5, learningRate, embeddingStd] = fields as number[];
    const queueFill = finite(r.queueFill);
    points.push({ step: step!, epoch: epoch!, loss: loss!, top1: top1!, top5: top5!, learningRate: learningRate!, embeddingStd: embeddingStd!, ...(queueFill === null ? {} : { queueFill }) });
  }
  return decimate(points);
}

export async function readEpochRows(runDirectory: string): Promise<RunDetails['epochs']> {
  const epochs: RunDetails['epochs'] = [];
  for (const row of await readJsonLines(runPaths(runDirectory).epochs)) {
    if (typeof row !== 'object' || row === null) continue;
    const r = row as Record<string, unknown>;
    const epoch = finite(r.epoch);
    const meanLoss = finite(r.meanLoss);
    if (epoch === null || meanLoss === null) continue;
    // Issue 12 item 5 / issue 10: the confusion counts and the label-free signal, when the epoch has them and they are well formed.
    const confusion = knnConfusionSchema.safeParse(r.confusion);
    const unsupervised = unsupervisedSignalSchema.safeParse(r.unsupervised);
    epochs.push({ epoch, meanLoss, knnTop1: finite(r.knnTop1), knnTop5: finite(r.knnTop5), ...(confusion.success ? { confusion: confusion.data } : {}), ...(unsupervised.success ? { unsupervised: unsupervised.data } : {}) });
  }
  return epochs;
}

/** Checkpoint file names of a run, oldest first. */
export async function checkpointNames(runDirectory: string): Promise<string[]> {
  const names = await readdir(runPaths(runDirectory).checkpoints).catch(() => [] as string[]);
  return names.filter((n) => /^step-\d{9}\.ckpt$/.test(n)).sort();
}

export async function hasEmbeddings(runDirectory: string): Promise<boolean> {
  return stat(join(runPaths(runDirectory).embeddings, MANIFEST_FILE)).then((s) => s.isFile(), () => false);
}

/** Writes `<run>/exports/embeddings.<csv|npy>` and returns its path. */
export async function exportEmbeddings(runDirectory: string, embeddings: Embeddings, format: 'csv' | 'npy'): Promise<string> {
  const directory = exportsDirectory(runDirectory);
  await mkdir(directory, { recursive: true });
  const path = join(directory, `embeddings.${format}`);
  if (format === 'csv') await exportCsv(path, embeddings);
  else await exportNpy(path, embeddings);
  return path;
}
