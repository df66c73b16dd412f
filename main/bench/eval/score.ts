/**
 * Test-against-train weighted kNN (main/ml/knn.ts, t = 0.1) of one trained run, beside the two
 * baselines it must beat on the same images: standardised raw pixels at the training size, and
 * the encoder the run started from (same settings and seed: the exact random initialisation).
 * Several embeddings of the trained run are scored (query or key encoder; last stage, head, or
 * pooled stages), so one training run answers "which features should we embed".
 */
import * as tf from '@tensorflow/tfjs-core';
import { readRunRecord, runPaths } from '../../core/run-store.js';
import { chooseBackend } from '../../ml/backend.js';
import { embedImagesAs, type Representation } from '../../ml/batches.js';
import { weightedKnn } from '../../ml/knn.js';
import { applyStandardisation, fitStandardisation } from '../../ml/feature-standardisation.js';
import { pixelFeatures, pixelStatistics } from '../../ml/pixel-baseline.js';
import type { Encoder } from '../../ml/resnet.js';
import { importTrainingState } from '../../ml/training-state.js';
import { MocoTrainer } from '../../ml/trainer.js';
import { loadLatestCheckpoint } from '../../trainer/checkpoint.js';
import { storeSizeFor, toTrainingConfig } from '../../trainer/training-config.js';
import { loadTrainingImagesInMemory, type InMemoryTrainingImages } from '../../trainer/training-images.js';

export const EVAL_K = [20, 200] as const;

export interface KnnScores { readonly k20: number; readonly k200: number }

export interface RunScores {
  readonly imageSize: number;
  readonly trainImages: number;
  readonly testImages: number;
  readonly pixels: KnnScores;
  /** Keyed by `<encoder>/<representation>`, e.g. `random/backbone`, `query/multistage`. */
  readonly embeddings: Record<string, KnnScores>;
}

async function knnScores(bank: tf.Tensor2D, bankLabels: Int32Array, test: tf.Tensor2D, testLabels: Int32Array, numClasses: number): Promise<KnnScores> {
  const [k20, k200] = await Promise.all(EVAL_K.map(async (k) => (await weightedKnn(bank, bankLabels, test, testLabels, { k, temperature: 0.1, numClasses })).top1));
  return { k20: k20!, k200: k200! };
}

function testLabelsInTrainClasses(train: InMemoryTrainingImages, test: InMemoryTrainingImages): { images: InMemoryTrainingImages['images']; labels: Int32Array } {
  const keep = test.labels.map((l, i) => (l >= 0 && train.classes.includes(test.classes[l]!) ? i : -1)).filter((i) => i >= 0);
  return { images: keep.map((i) => test.images[i]!), labels: Int32Array.from(keep.map((i) => train.classes.indexOf(test.classes[test.labels[i]!]!))) };
}

/** Both sets standardised with the bank's statistics, exactly as the product embeds (feature-standardisation.ts). */
async function standardised(bank: tf.Tensor2D, probe: tf.Tensor2D): Promise<[tf.Tensor2D, tf.Tensor2D]> {
  const statistics = await fitStandardisation(bank);
  return [applyStandardisation(bank, statistics), applyStandardisation(probe, statistics)];
}

export async function scoreRun(options: { runDirectory: string; trainFolder: string; testFolder: string; cacheDirectory: string; representations: readonly Representation[]; encoders: readonly ('query' | 'key')[] }): Promise<RunScores> {
  const record = await readRunRecord(options.runDirectory);
  const settings = record.settings;
  if (!settings) throw new Error(`Run ${options.runDirectory} recorded no settings`);
  const { checkpoint } = await loadLatestCheckpoint(runPaths(options.runDirectory).checkpoints);
  if (!checkpoint) throw new Error(`Run ${options.runDirectory} has no usable checkpoint`);
  await chooseBackend({ preferred: settings.backend, env: process.env });
  const size = settings.imageSize;
  const noProgress = (): void => undefined;
  const train = await loadTrainingImagesInMemory(options.trainFolder, options.cacheDirectory, storeSizeFor(size), noProgress);
  const test = await loadTrainingImagesInMemory(options.testFolder, options.cacheDirectory, storeSizeFor(size), noProgress);
  const bankLabels = Int32Array.from(train.labels);
  const queries = testLabelsInTrainClasses(train, test);
  const numClasses = train.classes.length;

  const statistics = pixelStatistics(train.images, size);
  const bankPixels = pixelFeatures(train.images, size, statistics);
  const probePixels = pixelFeatures(queries.images, size, statistics);
  const pixels = await knnScores(bankPixels, bankLabels, probePixels, queries.labels, numClasses);
  for (const t of [statistics.mean, statistics.std, bankPixels, probePixels]) t.dispose();

  const embeddings: Record<string, KnnScores> = {};
  const scoreEncoder = async (label: string, encoder: Encoder): Promise<void> => {
    const bank = embedImagesAs(encoder, train.images, size, options.representations);
    const probe = embedImagesAs(encoder, queries.images, size, options.representations);
    try {
      for (const r of options.representations) {
        embeddings[`${label}/${r}`] = await knnScores(bank.get(r)!, bankLabels, probe.get(r)!, queries.labels, numClasses);
        // The same features standardised per dimension with the bank's statistics, as the pixels are.
        const [b, p] = await standardised(bank.get(r)!, probe.get(r)!);
        embeddings[`${label}/${r}+std`] = await knnScores(b, bankLabels, p, queries.labels, numClasses);
        b.dispose();
        p.dispose();
      }
    } finally {
      for (const t of [...bank.values(), ...probe.values()]) t.dispose();
    }
  };
  // Same config and seed as the run: the weights it started from.
  const initial = new MocoTrainer(toTrainingConfig(settings));
  try {
    await scoreEncoder('random', initial.moco.queryEncoder);
  } finally {
    initial.dispose();
  }
  const trained = new MocoTrainer(toTrainingConfig(settings));
  try {
    importTrainingState(trained, checkpoint.state);
    if (options.encoders.includes('query')) await scoreEncoder('query', trained.moco.queryEncoder);
    if (options.encoders.includes('key')) await scoreEncoder('key', trained.moco.keyEncoder);
  } finally {
    trained.dispose();
  }
  return { imageSize: size, trainImages: train.images.length, testImages: queries.images.length, pixels, embeddings };
}
