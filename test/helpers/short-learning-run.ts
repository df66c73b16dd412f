import { generateSampleSet, SAMPLE_CLASSES } from '../../main/core/sample-images.js';
import { defaultAugmentationConfig, type RgbImage } from '../../main/ml/augment.js';
import { embedImages } from '../../main/ml/batches.js';
import { applyStandardisation, fitStandardisation } from '../../main/ml/feature-standardisation.js';
import { weightedKnn } from '../../main/ml/knn.js';
import type { Encoder } from '../../main/ml/resnet.js';
import { MocoTrainer, type TrainingConfig } from '../../main/ml/trainer.js';

/**
 * The smallest run found that learns in few enough steps for a software WebGPU adapter in CI
 * (issue 8): ResNet-18 at width 1/8, 16-px crops, batch 32, lr 0.15, one epoch (9 steps) on 300
 * of the 400 generated sample images; kNN over all 400 (100 never trained on). Measured on wasm
 * over seeds 1-10: gain over random init +0.042 to +0.255, mean +0.123; seed 1 (this one)
 * 0.287 -> 0.542. Training on all 400 was less steady (mean +0.080, two seeds below random init).
 * At this scale the gain peaks within 5-15 steps and fades after (a lower lr, 0.02, loses to
 * random init), so this checks that a backend's steps learn, not what a real run reaches.
 */
export const SHORT_RUN: TrainingConfig = {
  moco: {
    encoder: { architecture: 'resnet18', widthMultiplier: 1 / 8, smallImageStem: true, head: 'linear', dim: 64, bnSplits: 4 },
    queueSize: 128, keyMomentum: 0.99, temperature: 0.1, shuffleKeys: true,
  },
  sgd: { learningRate: 0.15, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'cosine' }, warmupEpochs: 0 },
  augmentation: defaultAugmentationConfig('v2', 16),
  batchSize: 32,
  epochs: 1,
  seed: 1,
};
export const SHORT_RUN_STEPS = 9;
export const SHORT_RUN_TRAIN_PER_CLASS = 30;

/**
 * The product's kNN (standardised backbone features, issue 10) over the whole set, each image
 * scored against all the others: 400 test rows, so one seed's figure is less noisy than a split's.
 */
async function leaveOneOutKnn(encoder: Encoder, images: readonly RgbImage[], labels: Int32Array, size: number): Promise<number> {
  const raw = embedImages(encoder, images, size);
  const standardised = applyStandardisation(raw, await fitStandardisation(raw));
  raw.dispose();
  try {
    return (await weightedKnn(standardised, labels, standardised, labels, { k: 20, temperature: 0.1, numClasses: SAMPLE_CLASSES.length, excludeSelf: true })).top1;
  } finally {
    standardised.dispose();
  }
}

/** Trains SHORT_RUN for SHORT_RUN_STEPS steps on the current backend; kNN top-1 before and after. */
export async function shortLearningRun(config: TrainingConfig = SHORT_RUN, steps = SHORT_RUN_STEPS, trainPerClass = SHORT_RUN_TRAIN_PER_CLASS): Promise<{ randomInit: number; trained: number; steps: number }> {
  const set = generateSampleSet({ perClass: 40, size: 24, seed: 1 });
  const images = set.map((s) => s.image);
  const trainImages = set.filter((s) => s.index < trainPerClass).map((s) => s.image);
  const labels = Int32Array.from(set.map((s) => SAMPLE_CLASSES.indexOf(s.className)));
  const size = config.augmentation.outputSize;
  const trainer = new MocoTrainer(config);
  try {
    const randomInit = await leaveOneOutKnn(trainer.moco.queryEncoder, images, labels, size);
    for (let i = 0; i < steps; i++) await trainer.trainStep(trainImages);
    const trained = await leaveOneOutKnn(trainer.moco.queryEncoder, images, labels, size);
    return { randomInit, trained, steps };
  } finally {
    trainer.dispose();
  }
}
