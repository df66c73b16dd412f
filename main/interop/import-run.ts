/**
 * `moco-studio import <file>` (issue 11): a PyTorch checkpoint becomes a run of ours. The run
 * holds one checkpoint of our format (query and key encoders, the queue) at step 0, settings
 * that describe the imported architecture, and status `finished`, so everything that works on a
 * trained run works on it without training: embed its folder, neighbours, the map, kNN, export,
 * and `train --init <run>` to fine-tune it on a folder as a new run.
 *
 * Pure TypeScript, no tfjs: the file is read and checked, the tensors laid out as ours, and the
 * checkpoint written atomically before run.json, so a failed import leaves no half run behind.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ResolvedSettings } from '../../shared/training-settings.js';
import { runPaths, writeRunRecord, type RunRecord } from '../core/run-store.js';
import { Rng } from '../ml/rng.js';
import type { NamedTensorData, TrainingState } from '../ml/training-state.js';
import { saveCheckpoint } from '../trainer/checkpoint.js';
import { readTorchCheckpoint } from './torch-checkpoint.js';
import { importTorchModel, type ImportedModel } from './torch-import.js';

export interface ImportOptions {
  readonly file: string;
  readonly runsRoot: string;
  /** Names the run directory (default: the file's name). */
  readonly name?: string;
  /** The image folder the run embeds (none: the run has an empty folder of its own until imported again with one). */
  readonly folder?: string;
  /** Side of the images the encoder sees when embedding (default 32 for the small-image stem, 128 for the ImageNet stem). */
  readonly imageSize?: number;
}

export interface ImportResult {
  readonly runDirectory: string;
  readonly runId: string;
  readonly architecture: string;
  readonly widthMultiplier: number;
  readonly smallImageStem: boolean;
  readonly head: string;
  readonly dim: number;
  readonly format: 'zip' | 'legacy';
  readonly layout: 'moco' | 'torchvision';
  readonly keyEncoder: 'imported' | 'copy of the query encoder';
  readonly queue: string;
  readonly epoch: number | null;
  readonly dtypes: readonly string[];
  readonly folder: string;
  readonly imageSize: number;
  readonly checkpoint: string;
}

/** Settings that describe the imported encoder; the training fields are the reference's for its preset. */
export function importedSettings(model: ImportedModel, imageSize: number): ResolvedSettings {
  const queueSize = model.queue?.shape[1] ?? 4096;
  let batchSize = 256;
  while (batchSize > 2 && (queueSize % batchSize !== 0 || model.queuePointer % batchSize !== 0)) batchSize /= 2;
  const v2 = model.shape.head === 'mlp';
  return {
    epochs: 1, batchSize, imageSize, architecture: model.shape.architecture, widthMultiplier: model.shape.widthMultiplier,
    smallImageStem: model.shape.smallImageStem, queueSize, keyMomentum: 0.999, temperature: v2 ? 0.2 : 0.07, learningRate: 0.03,
    weightDecay: 1e-4, preset: v2 ? 'v2' : 'v1', head: model.shape.head, bnSplits: Math.min(8, batchSize / 2), dim: model.shape.dim,
    seed: 1, backend: 'auto', previewEvery: 20,
  };
}

/** The checkpoint content: as MocoTrainer would export it at step 0, with the imported weights. */
export function importedTrainingState(model: ImportedModel, settings: ResolvedSettings): TrainingState {
  const tensors: NamedTensorData[] = [];
  for (const [prefix, encoder] of [['query', model.query], ['key', model.key ?? model.query]] as const) {
    for (const [name, t] of encoder) tensors.push({ name: `${prefix}/${name}`, shape: t.shape, values: t.values });
  }
  let queue = model.queue?.values;
  if (!queue) {
    // As Moco's constructor: random normal columns, L2-normalised (dim=0 in the reference).
    const rng = new Rng(settings.seed ^ 0x5eed);
    const [dim, K] = [settings.dim, settings.queueSize];
    queue = new Float32Array(dim * K);
    for (let i = 0; i < queue.length; i++) queue[i] = rng.normal();
    for (let k = 0; k < K; k++) {
      let norm = 0;
      for (let c = 0; c < dim; c++) norm += queue[c * K + k]! ** 2;
      const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
      for (let c = 0; c < dim; c++) queue[c * K + k]! *= scale;
    }
  }
  tensors.push({ name: 'queue', shape: [settings.dim, settings.queueSize], values: queue });
  return {
    meta: {
      epoch: 0, globalStep: 0, stepInEpoch: 0, epochOrder: null,
      // keysEnqueued > 0 marks a queue of real keys: `train --init` takes it when its shape fits.
      moco: { queuePointer: model.queue ? model.queuePointer : 0, keysEnqueued: model.queue ? settings.queueSize : 0, shuffleRng: new Rng(settings.seed ^ 0x5bf1e).getState() },
      dataRng: new Rng(settings.seed ^ 0xda7a).getState(),
    },
    tensors,
  };
}

function safeName(text: string): string {
  return text.replace(/(\.(pth|pt|tar|ckpt|bin))+$/i, '').replace(/[^\p{L}\p{N}._-]+/gu, '_').slice(0, 40) || 'model';
}

export async function importTorchRun(options: ImportOptions): Promise<ImportResult> {
  const file = resolve(options.file);
  const bytes = await readFile(file).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${file}: no such file` : code === 'EISDIR' ? `${file}: a folder, not a checkpoint file` : `${file}: cannot be read (${(error as Error).message})`);
  });
  const model = importTorchModel(readTorchCheckpoint(bytes, file), file);
  if (options.imageSize !== undefined && !(Number.isInteger(options.imageSize) && options.imageSize >= 16 && options.imageSize <= 512)) {
    throw new Error(`--image-size: expected an integer from 16 to 512, got ${options.imageSize}`);
  }
  const imageSize = options.imageSize ?? (model.shape.smallImageStem ? 32 : 128);
  const settings = importedSettings(model, imageSize);
  const now = new Date();
  const id = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-')}-imported-${safeName(options.name ?? basename(file))}`;
  const directory = join(options.runsRoot, id);
  await mkdir(options.runsRoot, { recursive: true });
  await mkdir(directory); // fails if it exists: never overwrite a run
  try {
    let folder: string;
    if (options.folder === undefined) {
      folder = join(directory, 'images');
      await mkdir(folder);
    } else {
      folder = resolve(options.folder);
    }
    const checkpoint = await saveCheckpoint(runPaths(directory).checkpoints, settings, importedTrainingState(model, settings));
    const result: ImportResult = {
      runDirectory: directory, runId: id, architecture: model.shape.architecture, widthMultiplier: model.shape.widthMultiplier,
      smallImageStem: model.shape.smallImageStem, head: model.shape.head, dim: model.shape.dim, format: model.format, layout: model.layout,
      keyEncoder: model.key ? 'imported' : 'copy of the query encoder',
      queue: model.queue ? `imported [${model.queue.shape.join(', ')}], pointer ${model.queuePointer}` : 'none in the file (a fresh random queue)',
      epoch: model.epoch, dtypes: model.dtypes, folder, imageSize, checkpoint,
    };
    const record: RunRecord = {
      format: 'moco-studio-run', version: 1, id, folder, createdAt: now.toISOString(), updatedAt: now.toISOString(),
      userSettings: {}, settings, status: 'finished',
      summary: { imported: { file, format: result.format, layout: result.layout, epoch: result.epoch, keyEncoder: result.keyEncoder, queue: result.queue, dtypes: result.dtypes }, steps: 0, epochs: 0, runDirectory: directory, checkpoint },
      message: `Imported from ${file} (${model.format} format, ${model.layout} layout)`,
    };
    await writeRunRecord(directory, record);
    return result;
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}
