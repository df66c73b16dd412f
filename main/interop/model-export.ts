/**
 * `moco-studio export <run> --format tfjs|onnx` and the app's model downloads (issue 12 item 4):
 * the run's newest good checkpoint's query encoder, with the run's stored folder statistics, as
 * a model that gives the app's own embeddings (main/interop/inference-graph.ts).
 *
 * - tfjs: a directory `model.json` + `weights.bin` (tf.loadGraphModel), or, for a download, the
 *   two in one .zip (stored entries).
 * - onnx: one `.onnx` file (onnxruntime, NCHW input).
 * Written atomically: a file through writeFileAtomic, a directory built beside the target and
 * renamed into place, so a reader never sees half an export.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import { readRunRecord, runPaths } from '../core/run-store.js';
import { loadLatestCheckpoint } from '../trainer/checkpoint.js';
import { buildInferenceGraph, type InferenceGraph } from './inference-graph.js';
import { toOnnxModel } from './onnx-model.js';
import { TFJS_WEIGHTS_FILE, toTfjsGraphModel } from './tfjs-graph-model.js';
import { writeStoredZip } from './zip-archive.js';

/** The stored statistics file beside a run's embeddings (= STANDARDISATION_FILE of main/trainer/run-embeddings.ts). */
const STANDARDISATION_FILE = 'standardisation.json';

export interface ModelExportResult {
  readonly path: string;
  readonly format: 'tfjs' | 'tfjs-zip' | 'onnx';
  readonly checkpoint: string;
  /** Whether the output includes the folder standardisation (false: no embeddings of this checkpoint yet). */
  readonly standardised: boolean;
  readonly bytes: number;
}

/** Folder statistics stored with the run's embeddings, when they were made from `checkpoint`. */
async function storedStandardisation(runDirectory: string, checkpoint: string): Promise<{ mean: number[]; std: number[] } | null> {
  const text = await readFile(join(runPaths(runDirectory).embeddings, STANDARDISATION_FILE), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as { checkpoint?: unknown; mean?: unknown; std?: unknown };
    if (parsed.checkpoint !== checkpoint || !Array.isArray(parsed.mean) || !Array.isArray(parsed.std)) return null;
    return { mean: parsed.mean.map(Number), std: parsed.std.map(Number) };
  } catch {
    return null;
  }
}

/** The newest good checkpoint of a run as an inference graph, with what the export records about it. */
export async function runInferenceGraph(runDirectory: string): Promise<{ graph: InferenceGraph; checkpoint: string; metadata: Record<string, string> }> {
  const record = await readRunRecord(runDirectory);
  const settings = record.settings;
  if (!settings) throw new Error(`Run ${runDirectory} has not trained yet (no settings recorded): nothing to export`);
  const { checkpoint } = await loadLatestCheckpoint(runPaths(runDirectory).checkpoints);
  if (!checkpoint) throw new Error(`Run ${runDirectory} has no usable checkpoint to export`);
  const name = basename(checkpoint.path);
  const standardisation = await storedStandardisation(runDirectory, name);
  const graph = buildInferenceGraph({ tensors: checkpoint.state.tensors, smallImageStem: settings.smallImageStem, imageSize: settings.imageSize, standardisation });
  const metadata = {
    run: record.id, checkpoint: name, architecture: settings.architecture, widthMultiplier: String(settings.widthMultiplier), imageSize: String(settings.imageSize),
    input: 'RGB float32, torchvision eval transform: resize the shorter side to round(S*256/224), centre crop S, /255, ImageNet mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225]',
    output: graph.standardised ? "the app's embedding: pooled backbone features, L2-normalised, standardised with the run's folder statistics, L2-normalised" : 'pooled backbone features, L2-normalised (the run had no embeddings of this checkpoint, so no folder standardisation)',
  };
  return { graph, checkpoint: name, metadata };
}

async function replaceDirectory(target: string, files: ReadonlyMap<string, Buffer | string>): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(staging);
  try {
    for (const [name, data] of files) await writeFileAtomic(join(staging, name), data);
    const previous = `${staging}.old`;
    const hadPrevious = await rename(target, previous).then(() => true, (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    });
    await rename(staging, target);
    if (hadPrevious) await rm(previous, { recursive: true, force: true });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Writes the export; `tfjs` to a directory `out` (or a .zip when `out` ends in .zip), `onnx` to the file `out`. */
export async function exportRunModel(options: { runDirectory: string; format: 'tfjs' | 'onnx'; out: string }): Promise<ModelExportResult> {
  const runDirectory = resolve(options.runDirectory);
  const out = resolve(options.out);
  const { graph, checkpoint, metadata } = await runInferenceGraph(runDirectory);
  if (options.format === 'onnx') {
    const bytes = toOnnxModel(graph, metadata);
    await mkdir(dirname(out), { recursive: true });
    await writeFileAtomic(out, bytes);
    return { path: out, format: 'onnx', checkpoint, standardised: graph.standardised, bytes: bytes.length };
  }
  const { modelJson, weights } = toTfjsGraphModel(graph, metadata);
  const json = `${JSON.stringify(modelJson)}\n`;
  if (out.toLowerCase().endsWith('.zip')) {
    const bytes = writeStoredZip([{ name: 'model.json', data: Buffer.from(json, 'utf8') }, { name: TFJS_WEIGHTS_FILE, data: weights }]);
    await mkdir(dirname(out), { recursive: true });
    await writeFileAtomic(out, bytes);
    return { path: out, format: 'tfjs-zip', checkpoint, standardised: graph.standardised, bytes: bytes.length };
  }
  await replaceDirectory(out, new Map<string, Buffer | string>([['model.json', json], [TFJS_WEIGHTS_FILE, weights]]));
  return { path: join(out, 'model.json'), format: 'tfjs', checkpoint, standardised: graph.standardised, bytes: json.length + weights.length };
}
