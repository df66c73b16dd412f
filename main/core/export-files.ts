/**
 * Every export of a run as one file in `<run>/exports/` (issue 12 item 4): what the app's
 * download links stream (main/server/export-route.ts) and what runs:export answers with.
 * The CLI writes the same exports to a path of the user's choice (main/cli/interop-commands.ts).
 *
 *   csv    embeddings.csv          path, class, then the embedding's columns (the app's rows)
 *   npy    embeddings.npy          float32 [rows, dim], rows in embeddings.json's order
 *   tfjs   tfjs-model.zip          model.json + weights.bin: tf.loadGraphModel, NHWC pixels -> embedding
 *   onnx   encoder.onnx            onnxruntime, NCHW pixels -> embedding
 *   torch  encoder-torchvision.pth the query encoder as a torchvision ResNet state dict (issue 11)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exportTorchRun } from '../interop/torch-export.js';
import { exportRunModel } from '../interop/model-export.js';
import type { Embeddings } from './embeddings/embedding-store.js';
import { exportEmbeddings, exportsDirectory } from './run-exports.js';

export const EXPORT_FORMATS = ['csv', 'npy', 'tfjs', 'onnx', 'torch'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const FILE_NAMES: Record<ExportFormat, string> = {
  csv: 'embeddings.csv', npy: 'embeddings.npy', tfjs: 'tfjs-model.zip', onnx: 'encoder.onnx', torch: 'encoder-torchvision.pth',
};

export function isExportFormat(value: string): value is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(value);
}

/** The name a browser saves the download under: the run id first, so two runs' exports do not collide. */
export function downloadFileName(runId: string, format: ExportFormat): string {
  return `${runId.replace(/[^A-Za-z0-9._-]/g, '_')}-${FILE_NAMES[format]}`;
}

/**
 * Writes the export into `<run>/exports/` and returns its path. `embeddings` is asked for only
 * by csv and npy (the app core makes them first when a stopped run has none).
 */
export async function writeExportFile(runDirectory: string, format: ExportFormat, embeddings: () => Promise<Embeddings>): Promise<string> {
  if (format === 'csv' || format === 'npy') return exportEmbeddings(runDirectory, await embeddings(), format);
  const directory = exportsDirectory(runDirectory);
  await mkdir(directory, { recursive: true });
  const out = join(directory, FILE_NAMES[format]);
  if (format === 'torch') return (await exportTorchRun({ runDirectory, out, layout: 'torchvision' })).path;
  return (await exportRunModel({ runDirectory, format, out })).path;
}
