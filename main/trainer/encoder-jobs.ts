/**
 * Jobs that use a trained run's encoder rather than train it: embed the run's folder, embed
 * arbitrary files (neighbour search with an outside image), and the kNN evaluation of one folder
 * against another. They run in the trainer process, like training, so tfjs never runs on the
 * app's main thread. (Model exports need no tfjs: main/interop/model-export.ts.)
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainerCommand, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { decodeImageFile, ImageDecodeError } from '../core/images/decode.js';
import { readRunRecord, runPaths } from '../core/run-store.js';
import type { RgbImage } from '../ml/augment.js';
import { chooseBackend } from '../ml/backend.js';
import { embedImages } from '../ml/batches.js';
import { weightedKnn } from '../ml/knn.js';
import type { Encoder } from '../ml/resnet.js';
import { importTrainingState } from '../ml/training-state.js';
import { MocoTrainer } from '../ml/trainer.js';
import { decodeCheckpoint, loadLatestCheckpoint, type Checkpoint } from './checkpoint.js';
import { embedStandardised, readStandardisation, writeRunEmbeddings } from './run-embeddings.js';
import { applyStandardisation } from '../ml/feature-standardisation.js';
import { storeSizeFor, toTrainingConfig } from './training-config.js';
import { loadTrainingImages, loadTrainingImagesInMemory } from './training-images.js';
import type { ResolvedSettings } from '../../shared/training-settings.js';

type Command<T extends TrainerCommand['type']> = Extract<TrainerCommand, { type: T }>;

interface TrainedEncoder {
  readonly encoder: Encoder;
  readonly settings: ResolvedSettings;
  readonly checkpoint: string;
  dispose(): void;
}

/** The named checkpoint of a run, verified: a clear error if it is missing or corrupt. */
async function loadNamedCheckpoint(runDirectory: string, name: string): Promise<Checkpoint> {
  if (!/^step-\d{9}\.ckpt$/.test(name)) throw new Error(`"${name}" is not a checkpoint file name`);
  const path = join(runPaths(runDirectory).checkpoints, name);
  const bytes = await readFile(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`Run ${runDirectory} has no checkpoint ${name}`);
    throw error;
  });
  return decodeCheckpoint(bytes, path);
}

/**
 * The query encoder of a run's newest good checkpoint (what the reference evaluates), or of the
 * checkpoint named `checkpointName` (a file name in the run's checkpoints directory).
 */
export async function loadRunEncoder(runDirectory: string, warn: (message: string) => void, checkpointName?: string): Promise<TrainedEncoder> {
  const record = await readRunRecord(runDirectory);
  if (!record.settings) throw new Error(`Run ${runDirectory} has not trained yet (no settings recorded)`);
  let checkpoint: Checkpoint | null;
  if (checkpointName === undefined) {
    const latest = await loadLatestCheckpoint(runPaths(runDirectory).checkpoints);
    for (const r of latest.rejected) warn(r.reason);
    checkpoint = latest.checkpoint;
  } else {
    checkpoint = await loadNamedCheckpoint(runDirectory, checkpointName);
  }
  if (!checkpoint) throw new Error(`Run ${runDirectory} has no usable checkpoint`);
  await chooseBackend({ preferred: record.settings.backend, env: process.env });
  const trainer = new MocoTrainer(toTrainingConfig(record.settings));
  try {
    importTrainingState(trainer, checkpoint.state);
  } catch (error) {
    trainer.dispose();
    throw error;
  }
  return { encoder: trainer.moco.queryEncoder, settings: record.settings, checkpoint: checkpoint.path, dispose: () => { trainer.dispose(); } };
}

export async function embedRun(command: Command<'embed'>, warn: (message: string) => void, onProgress: (done: number, total: number) => void): Promise<TrainerEventOf<'embedded'>> {
  const run = await loadRunEncoder(command.runDirectory, warn, command.checkpoint);
  try {
    const record = await readRunRecord(command.runDirectory);
    const data = await loadTrainingImages(record.folder, command.cacheDirectory, storeSizeFor(run.settings.imageSize), onProgress);
    try {
      if (data.count === 0) throw new Error(`No usable image in ${record.folder}`);
      const directory = command.outputDirectory ?? runPaths(command.runDirectory).embeddings;
      await writeRunEmbeddings(run.encoder, data, run.settings.imageSize, directory, run.checkpoint);
      return { type: 'embedded', directory, rows: data.count, dim: run.encoder.featureChannels, checkpoint: run.checkpoint };
    } finally {
      await data.source.close();
    }
  } finally {
    run.dispose();
  }
}

export async function embedFiles(command: Command<'embed-files'>, warn: (message: string) => void): Promise<TrainerEventOf<'vectors'>> {
  const run = await loadRunEncoder(command.runDirectory, warn, command.checkpoint);
  try {
    const images: RgbImage[] = [];
    const failures: { path: string; reason: string }[] = [];
    const kept: number[] = [];
    for (const [i, file] of command.files.entries()) {
      try {
        images.push((await decodeImageFile(resolve(file), { storeSize: storeSizeFor(run.settings.imageSize) })).image);
        kept.push(i);
      } catch (error) {
        failures.push({ path: file, reason: error instanceof ImageDecodeError ? error.reason : (error as Error).message });
      }
    }
    const vectors: number[][] = command.files.map(() => []);
    if (images.length > 0) {
      // Standardised with the statistics stored beside the run's embeddings, so outside images
      // land in the same space as the folder's rows (issue 10); `await data()`, the only read of
      // a GPU tensor in Node (issue 8).
      // A named checkpoint's statistics are beside its own embeddings (app-core's checkpointEmbeddingsDirectory).
      const embeddingsDirectory = runPaths(command.runDirectory).embeddings;
      const standardisation = await readStandardisation(embeddingsDirectory, run.checkpoint)
        ?? (command.checkpoint === undefined ? null : await readStandardisation(join(embeddingsDirectory, 'by-checkpoint', command.checkpoint.replace(/\.ckpt$/, '')), run.checkpoint));
      const features = tf.tidy(() => {
        const raw = embedImages(run.encoder, images, run.settings.imageSize);
        return standardisation ? applyStandardisation(raw, standardisation) : raw;
      });
      const dim = features.shape[1];
      const flat = await features.data().finally(() => { features.dispose(); });
      kept.forEach((fileIndex, row) => { vectors[fileIndex] = Array.from(flat.subarray(row * dim, (row + 1) * dim)); });
    }
    return { type: 'vectors', dim: run.encoder.featureChannels, vectors, failures };
  } finally {
    run.dispose();
  }
}

export async function knnEvaluation(command: Command<'knn'>, warn: (message: string) => void): Promise<TrainerEventOf<'knn'>> {
  const run = await loadRunEncoder(command.runDirectory, warn);
  try {
    const storeSize = storeSizeFor(run.settings.imageSize);
    const noProgress = (): void => undefined;
    const train = await loadTrainingImagesInMemory(command.trainFolder, command.cacheDirectory, storeSize, noProgress);
    const test = await loadTrainingImagesInMemory(command.testFolder, command.cacheDirectory, storeSize, noProgress);
    if (train.classes.length < 2) throw new Error(`--train ${command.trainFolder}: needs at least 2 class subfolders, found ${train.classes.length}`);
    const missing = test.classes.filter((c) => !train.classes.includes(c));
    if (missing.length > 0) warn(`test classes not in the training folder count as errors: ${missing.join(', ')}`);
    const testLabels = test.labels.map((l) => train.classes.indexOf(test.classes[l] ?? ''));
    const keep = test.labels.map((l, i) => (l >= 0 ? i : -1)).filter((i) => i >= 0);
    if (keep.length === 0) throw new Error(`--test ${command.testFolder}: no image in a class subfolder`);
    // Standardised with the training folder's statistics, as the run's stored embeddings (issue 10).
    const { features: bank, standardisation } = await embedStandardised(run.encoder, train.images, run.settings.imageSize);
    const queries = tf.tidy(() => applyStandardisation(embedImages(run.encoder, keep.map((i) => test.images[i]!), run.settings.imageSize), standardisation));
    const result = await weightedKnn(bank, Int32Array.from(train.labels), queries, Int32Array.from(keep.map((i) => testLabels[i]!)), { k: command.k, temperature: 0.1, numClasses: train.classes.length })
      .finally(() => { bank.dispose(); queries.dispose(); });
    return { type: 'knn', top1: result.top1, top5: result.top5, k: result.kUsed, trainImages: train.images.length, testImages: keep.length, classes: [...train.classes] };
  } finally {
    run.dispose();
  }
}
