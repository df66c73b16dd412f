/** From the user-facing resolved settings (shared/) to the engine's configuration (main/ml/). */
import type { ResolvedSettings } from '../../shared/training-settings.js';
import { defaultAugmentationConfig, type AugmentationConfig } from '../ml/augment.js';
import type { SgdConfig } from '../ml/optimizer.js';
import type { TrainingConfig } from '../ml/trainer.js';

/** The preset's augmentations, with the crop scale and jitter strength the settings chose (issue 10). */
function augmentationFor(settings: ResolvedSettings): AugmentationConfig {
  const base = defaultAugmentationConfig(settings.preset, settings.imageSize);
  const jitter = settings.jitterStrength ?? 1;
  return {
    ...base,
    scale: [Math.min(settings.cropScale ?? base.scale[0], 1), 1],
    brightness: base.brightness * jitter,
    contrast: base.contrast * jitter,
    saturation: base.saturation * jitter,
    hue: Math.min(0.5, base.hue * jitter),
  };
}

export function toTrainingConfig(settings: ResolvedSettings): TrainingConfig {
  // v2 trains with a cosine schedule; v1 divides the rate by 10 at 60 % and 80 % of the run
  // (the reference's epochs 120 and 160 of 200).
  const schedule: SgdConfig['schedule'] = settings.preset === 'v2'
    ? { kind: 'cosine' }
    : { kind: 'step', milestones: [Math.round(settings.epochs * 0.6), Math.round(settings.epochs * 0.8)], gamma: 0.1 };
  return {
    moco: {
      encoder: {
        architecture: settings.architecture,
        widthMultiplier: settings.widthMultiplier,
        smallImageStem: settings.smallImageStem,
        head: settings.head,
        dim: settings.dim,
        bnSplits: settings.bnSplits,
      },
      queueSize: settings.queueSize,
      keyMomentum: settings.keyMomentum,
      temperature: settings.temperature,
      shuffleKeys: true,
    },
    sgd: { learningRate: settings.learningRate, momentum: 0.9, weightDecay: settings.weightDecay, schedule, warmupEpochs: 0 },
    augmentation: augmentationFor(settings),
    batchSize: settings.batchSize,
    epochs: settings.epochs,
    seed: settings.seed,
  };
}

/** Stored copies keep the shorter side at twice the training size, so crops stay sharp. */
export function storeSizeFor(imageSize: number): number {
  return Math.min(512, Math.max(64, imageSize * 2));
}
