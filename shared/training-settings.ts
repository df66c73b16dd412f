/**
 * Training settings: what a user may set (every field optional: unset means "choose for me"),
 * the runtime schema that validates them at every boundary (CLI flags, IPC, WebSocket, config
 * files), and `resolveSettings`, which fills the gaps from the folder size and the backend and
 * says why for each choice. Pure: no Node, no tfjs; the UI shows the same suggestions.
 * Names follow the paper's symbols: K = queueSize, m = keyMomentum, T = temperature.
 */
import { z } from 'zod';
import { chooseWorkers, MAX_WORKERS } from './workers.js';

export const ARCHITECTURE_NAMES = ['resnet18', 'resnet34', 'resnet50'] as const;
export const PRESET_NAMES = ['v1', 'v2'] as const;
export const BACKEND_CHOICES = ['auto', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const HEAD_NAMES = ['linear', 'mlp'] as const;

const positiveInt = (max: number) => z.number().int().min(1).max(max);

/** A crash (kill -9, power loss) loses at most this many minutes of training, whatever the epoch length. */
export const DEFAULT_CHECKPOINT_MINUTES = 5;
/** 0.6 s: short enough for tests; a checkpoint of a full-width ResNet-18 takes about a second to write. */
export const MIN_CHECKPOINT_MINUTES = 0.01;

export const trainingSettingsSchema = z.strictObject({
  epochs: positiveInt(10_000).optional(),
  batchSize: z.number().int().min(2).max(4096).optional(),
  imageSize: z.number().int().min(16).max(512).optional(),
  architecture: z.enum(ARCHITECTURE_NAMES).optional(),
  widthMultiplier: z.number().gt(0).max(4).optional(),
  /** K */
  queueSize: positiveInt(1 << 20).optional(),
  /** m */
  keyMomentum: z.number().min(0).lt(1).optional(),
  /** T */
  temperature: z.number().gt(0).max(10).optional(),
  learningRate: z.number().gt(0).max(10).optional(),
  weightDecay: z.number().min(0).max(1).optional(),
  preset: z.enum(PRESET_NAMES).optional(),
  /** Projection head: 'linear' (v1, CIFAR demo) or 'mlp' (v2). */
  head: z.enum(HEAD_NAMES).optional(),
  /** 3x3 stride-1 stem without max-pool; unset: for images <= 64 px. Set when fine-tuning an imported encoder (issue 11). */
  smallImageStem: z.boolean().optional(),
  bnSplits: positiveInt(256).optional(),
  dim: z.number().int().min(2).max(4096).optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  backend: z.enum(BACKEND_CHOICES).optional(),
  /** Steps between augmentation previews sent to the UI. */
  previewEvery: positiveInt(100_000).optional(),
  /** Minutes between time-based checkpoints (besides one per epoch): bounds the work a crash loses (issue 13). */
  checkpointMinutes: z.number().min(MIN_CHECKPOINT_MINUTES).max(1440).optional(),
  /** RandomResizedCrop's smallest crop, as a fraction of the image area (v2: 0.2). */
  cropScale: z.number().gt(0).max(1).optional(),
  /** Multiplies ColorJitter's brightness/contrast/saturation/hue strengths (v2: 1). */
  jitterStrength: z.number().min(0).max(2).optional(),
  /** Worker threads the batch is split over (wasm; shared/workers.ts). */
  workers: positiveInt(MAX_WORKERS).optional(),
});
export type TrainingSettings = z.infer<typeof trainingSettingsSchema>;

export const resolvedSettingsSchema = z.strictObject({
  epochs: z.number().int(),
  batchSize: z.number().int(),
  imageSize: z.number().int(),
  architecture: z.enum(ARCHITECTURE_NAMES),
  widthMultiplier: z.number(),
  smallImageStem: z.boolean(),
  queueSize: z.number().int(),
  keyMomentum: z.number(),
  temperature: z.number(),
  learningRate: z.number(),
  weightDecay: z.number(),
  preset: z.enum(PRESET_NAMES),
  head: z.enum(HEAD_NAMES),
  bnSplits: z.number().int(),
  dim: z.number().int(),
  seed: z.number().int(),
  backend: z.enum(BACKEND_CHOICES),
  previewEvery: z.number().int(),
  /** Absent from runs recorded before it existed: they get the default. */
  checkpointMinutes: z.number().default(DEFAULT_CHECKPOINT_MINUTES),
  // Optional: runs recorded before issue 10 have neither; they trained with v2's 0.2 and 1.
  cropScale: z.number().optional(),
  jitterStrength: z.number().optional(),
  /** Optional: runs recorded before issue 9 have none (they trained on one thread). */
  workers: z.number().int().optional(),
});
export type ResolvedSettings = z.infer<typeof resolvedSettingsSchema>;

export interface SettingsResolution {
  readonly settings: ResolvedSettings;
  /** Why each automatically chosen value was chosen. */
  readonly reasons: Partial<Record<keyof ResolvedSettings, string>>;
  /** Values the user set that had to change, with the reason (shown as warnings). */
  readonly adjustments: readonly { field: keyof ResolvedSettings; from: number; to: number; reason: string }[];
  /** Choices that will train, but worse than they could (shown as warnings). */
  readonly warnings: readonly string[];
}

export type BackendKind = 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';

/** The GPU backends (tfjs-node-gpu's CUDA, WebGPU): larger images, full width, more steps by default. */
export function isGpuBackend(backend: BackendKind): boolean {
  return backend === 'tensorflow' || backend === 'webgpu';
}

/** Validates untrusted settings; the error names each offending field. */
export function parseTrainingSettings(input: unknown): TrainingSettings {
  const result = trainingSettingsSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`);
    throw new Error(`Invalid training settings: ${problems.join('; ')}`);
  }
  return result.data;
}

function largestMultipleAtMost(limit: number, of: number): number {
  return Math.floor(limit / of) * of;
}

function largestDivisorAtMost(n: number, limit: number): number {
  for (let d = Math.max(1, Math.min(limit, n)); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** 64 px on a GPU; 32 px on the CPU backends, which train about 4x faster at 32 than at 64. */
export function defaultImageSize(backend: BackendKind): number {
  return isGpuBackend(backend) ? 64 : 32;
}

/**
 * Fills unset fields for a folder of `imageCount` usable images trained on `backend`.
 * Throws when the folder cannot make a single batch (fewer than 2 images, or fewer than an
 * explicitly requested batch size).
 */
export function resolveSettings(user: TrainingSettings, imageCount: number, backend: BackendKind, cores = 1): SettingsResolution {
  const reasons: SettingsResolution['reasons'] = {};
  const adjustments: { field: keyof ResolvedSettings; from: number; to: number; reason: string }[] = [];
  const fast = isGpuBackend(backend);
  if (imageCount < 2) throw new Error(`The folder has ${imageCount} usable image${imageCount === 1 ? '' : 's'}; MoCo needs at least 2 (one batch of 2)`);

  const preset = user.preset ?? 'v2';
  if (!user.preset) reasons.preset = 'v2: stronger augmentation (blur, jitter p=0.8) and a cosine schedule improve on v1 at no extra cost';

  // Batch: the reference uses 256; on one CPU core smaller batches keep steps short. Never more
  // than half the folder, so an epoch has at least two steps and the queue sees real keys early.
  let batchSize: number;
  if (user.batchSize !== undefined) {
    if (user.batchSize > imageCount) {
      throw new Error(`batchSize: ${user.batchSize} is more than the ${imageCount} usable images in the folder; use at most ${largestMultipleAtMost(imageCount, 2) || imageCount}`);
    }
    batchSize = user.batchSize;
  } else {
    const preferred = fast ? 128 : 32;
    batchSize = Math.max(2, Math.min(preferred, 2 ** Math.floor(Math.log2(Math.max(2, imageCount / 2)))));
    reasons.batchSize = batchSize < preferred
      ? `${batchSize}: at most half of the ${imageCount} images, so each epoch has at least two steps`
      : `${batchSize}: a good speed/quality balance on the ${backend} backend`;
  }

  const imageSize = user.imageSize ?? defaultImageSize(backend);
  if (user.imageSize === undefined) reasons.imageSize = fast ? '64 px: GPU-friendly and enough for most folders' : '32 px: the CPU backends train about 4x faster than at 64 px (the CIFAR setting)';
  const smallImageStem = user.smallImageStem ?? imageSize <= 64;
  if (user.smallImageStem === undefined) reasons.smallImageStem = smallImageStem ? 'images <= 64 px: 3x3 stride-1 stem without max-pool (CIFAR demo)' : 'images > 64 px: ImageNet stem (7x7 stride 2 + max-pool)';

  const architecture = user.architecture ?? 'resnet18';
  if (!user.architecture) reasons.architecture = 'ResNet-18: the reference single-GPU setting; deeper nets need far more data and time';
  // Deviation (issue 10, docs/moco.md): on a CPU, an eighth of the channels. In a fixed time a
  // narrower net takes about 3x the steps of width 1/4, and on real folders the steps paid more
  // than the channels (oxygen icons: 1380 steps at 1/8 beat 460 steps at 1/4 in less time).
  const widthMultiplier = user.widthMultiplier ?? (fast ? 1 : 0.125);
  if (user.widthMultiplier === undefined) reasons.widthMultiplier = fast ? 'full width on a GPU' : 'an eighth of the channels: many more steps per minute on a CPU, which small folders gain more from than from width';

  // K: a multiple of the batch (the FIFO enqueue must not wrap mid-batch) and well below the
  // number of images: with K near the folder size an image's own older keys return as negatives.
  const queueLimit = Math.max(batchSize, largestMultipleAtMost(Math.min(fast ? 65536 : 4096, Math.floor(imageCount / 2)), batchSize));
  let queueSize: number;
  if (user.queueSize !== undefined) {
    queueSize = user.queueSize;
    if (queueSize % batchSize !== 0 || queueSize > queueLimit) {
      const to = Math.max(batchSize, Math.min(queueLimit, largestMultipleAtMost(queueSize, batchSize)));
      adjustments.push({ field: 'queueSize', from: queueSize, to, reason: queueSize % batchSize !== 0 ? `K must be a multiple of the batch size ${batchSize}` : `K must stay well below the ${imageCount} images (at most half), or images meet their own older keys as negatives` });
      queueSize = to;
    }
  } else {
    queueSize = queueLimit;
    reasons.queueSize = `K=${queueSize}: a multiple of the batch ${batchSize}, at most half of the ${imageCount} images${fast ? '' : ' and at most 4096 (the CIFAR demo)'}`;
  }

  const largeFolder = imageCount >= 100_000;
  const keyMomentum = user.keyMomentum ?? (largeFolder ? 0.999 : 0.99);
  if (user.keyMomentum === undefined) reasons.keyMomentum = largeFolder ? 'm=0.999: the ImageNet setting for large folders' : 'm=0.99: the CIFAR demo setting; a short run needs the key encoder to follow faster';
  // Small images follow the reference's single-GPU CIFAR demo: fc head and T=0.1 (it pairs them
  // with v2's augmentations). On the sample set, 100 steps with the MLP head and T=0.2 left kNN
  // where random init had it (0.39 -> 0.38) while fc + T=0.1 lifted it to 0.47.
  const head = user.head ?? (smallImageStem ? 'linear' : preset === 'v2' ? 'mlp' : 'linear');
  if (user.head === undefined) reasons.head = smallImageStem ? 'fc head, as the CIFAR demo: the MLP head needs far longer runs to pay off' : `the ${preset} head`;
  const temperature = user.temperature ?? (smallImageStem ? 0.1 : preset === 'v1' ? 0.07 : 0.2);
  if (user.temperature === undefined) reasons.temperature = smallImageStem ? 'T=0.1: the CIFAR demo value for small images' : `T=${temperature}: the ${preset} reference value`;
  const weightDecay = user.weightDecay ?? (smallImageStem ? 5e-4 : 1e-4);
  if (user.weightDecay === undefined) reasons.weightDecay = smallImageStem ? '5e-4: the CIFAR demo setting for small images' : '1e-4: the ImageNet setting';
  // Deviation (docs/moco.md): the paper's 0.03 per 256 images is tuned for 200-epoch ImageNet
  // runs; our runs are 100x shorter. On the sample set (ResNet-18/8, batch 32, 135 steps) 0.06
  // reached kNN 0.49 where the paper's scaled 0.0075 reached 0.39. Linear in the batch, capped.
  const learningRate = user.learningRate ?? Math.min(0.12, (0.06 * batchSize) / 32);
  if (user.learningRate === undefined) reasons.learningRate = `${learningRate}: 0.06 per 32 images (capped at 0.12); higher than the paper's 0.03 per 256 because short runs learn too slowly at that rate`;

  // The reference splits a batch of 512 into 8 groups of 64; groups below ~8 images make noisy
  // statistics (measured: 8 groups of 4 learned far worse than 4 groups of 8 on the sample set).
  // At least 2 groups, or shuffling keys changes nothing and BN statistics leak (the paper's "cheating").
  let bnSplits = user.bnSplits ?? Math.max(2, Math.min(8, Math.floor(batchSize / 8)));
  const maxSplits = Math.max(1, Math.floor(batchSize / 2)); // at least 2 images per BatchNorm group
  const splits = largestDivisorAtMost(batchSize, Math.min(bnSplits, maxSplits));
  if (splits !== bnSplits) {
    if (user.bnSplits !== undefined) adjustments.push({ field: 'bnSplits', from: bnSplits, to: splits, reason: `must divide the batch size ${batchSize} and leave at least 2 images per group` });
    bnSplits = splits;
  }
  if (user.bnSplits === undefined) reasons.bnSplits = `${bnSplits} BatchNorm group${bnSplits === 1 ? '' : 's'} of ${batchSize / bnSplits}: emulates the reference's multi-GPU Shuffle BN, with at least 8 images per group where the batch allows`;

  const warnings: string[] = [];
  if (bnSplits < 2) {
    warnings.push(`batch ${batchSize} cannot be cut into BatchNorm groups of at least 2 images, so Shuffle BN is inactive and BN statistics can leak between queries and keys (the paper's "cheating"); use an even batch size`);
  }
  if (queueSize * 2 > imageCount) {
    warnings.push(`K=${queueSize} is more than half of the ${imageCount} images: an image's own older keys will come back as its negatives; use a smaller batch so K can stay well below the folder size`);
  }

  // Deviation (issue 10, docs/moco.md): at <= 32 px a v2 crop of 20 % of the area is a 14-px
  // patch blown up to the full size, and colour jitter repaints a small icon entirely, teaching
  // the encoder to ignore the colour that tells many small images apart; short runs learn more
  // from milder views (crops of 60-100 %, grayscale/blur/flip kept, no jitter). Larger images keep v2's values.
  const smallCrops = imageSize <= 32;
  const cropScale = user.cropScale ?? (smallCrops ? 0.6 : 0.2);
  if (user.cropScale === undefined) reasons.cropScale = smallCrops ? 'crops of 60-100 % of the image: at <= 32 px v2\'s 20 % crops leave too little of the image' : 'crops of 20-100 % of the image (v2)';
  const jitterStrength = user.jitterStrength ?? (smallCrops ? 0 : 1);
  if (user.jitterStrength === undefined) reasons.jitterStrength = smallCrops ? 'no colour jitter: at <= 32 px colour is much of what tells images apart (grayscale, blur and flips stay)' : 'v2\'s colour jitter';

  const stepsPerEpoch = Math.max(1, Math.floor(imageCount / batchSize));
  // CPU: about 1400 steps, 3-4 minutes at width 1/8 on 2 cores (issue 10: 460 steps at width 1/4 ended below random init).
  const targetSteps = fast ? 5000 : 1400;
  const epochs = user.epochs ?? Math.max(5, Math.min(200, Math.round(targetSteps / stepsPerEpoch)));
  if (user.epochs === undefined) reasons.epochs = `${epochs} epochs of ${stepsPerEpoch} steps: about ${epochs * stepsPerEpoch} steps, minutes on the ${backend} backend (the paper trains 200 epochs)`;

  const settings: ResolvedSettings = {
    epochs, batchSize, imageSize, architecture, widthMultiplier, smallImageStem, queueSize, keyMomentum, temperature,
    learningRate, weightDecay, preset, head, bnSplits, dim: user.dim ?? 128, seed: user.seed ?? 1, backend: user.backend ?? 'auto',
    previewEvery: user.previewEvery ?? 20,
    checkpointMinutes: user.checkpointMinutes ?? DEFAULT_CHECKPOINT_MINUTES,
    cropScale,
    jitterStrength,
  };
  if (user.checkpointMinutes === undefined) reasons.checkpointMinutes = `every ${DEFAULT_CHECKPOINT_MINUTES} minutes as well as every epoch: a crash loses at most ${DEFAULT_CHECKPOINT_MINUTES} minutes of training, however long an epoch is`;
  const workers = chooseWorkers(user.workers, bnSplits, batchSize, backend, cores);
  if (workers.adjustedFrom !== null) adjustments.push({ field: 'workers', from: workers.adjustedFrom, to: workers.workers, reason: workers.reason });
  else if (user.workers === undefined) reasons.workers = workers.reason;
  return { settings: { ...settings, workers: workers.workers }, reasons, adjustments, warnings };
}
