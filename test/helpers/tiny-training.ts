import { generateSampleSet } from '../../main/core/sample-images.js';
import { defaultAugmentationConfig, type RgbImage } from '../../main/ml/augment.js';
import type { TrainingConfig } from '../../main/ml/trainer.js';

/**
 * The tiny MoCo run that step-equality specs share (checkpoint resume, worker pool, webgpu):
 * ResNet-18 at width 1/16, 16 px crops, batch 8, K = 16, seed 7. `bnSplits` is the one knob
 * they differ in (the pool needs a group per worker).
 */
export function tinyTrainingConfig(bnSplits = 2): TrainingConfig {
  return {
    moco: {
      encoder: { architecture: 'resnet18', widthMultiplier: 1 / 16, smallImageStem: true, head: 'mlp', dim: 16, bnSplits },
      queueSize: 16, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true,
    },
    sgd: { learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'cosine' }, warmupEpochs: 1 },
    augmentation: defaultAugmentationConfig('v2', 16),
    batchSize: 8,
    epochs: 2,
    seed: 7,
  };
}

/** 10 classes x `perClass` generated 24-px images (seed 3). */
export function tinySampleImages(perClass: number): RgbImage[] {
  return generateSampleSet({ perClass, size: 24, seed: 3 }).map((s) => s.image);
}
