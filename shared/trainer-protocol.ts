/**
 * The message protocol between the app core and a trainer process (child_process.fork in the
 * CLI, the server and tests; Electron's utilityProcess in the app: same entry, same messages).
 * Both directions are validated at runtime with these schemas; types are derived from them.
 */
import { z } from 'zod';
import { resolvedSettingsSchema, trainingSettingsSchema } from './training-settings.js';

// ---- the backend doctor's report (also the response of the contract's backend:doctor) ------

export const backendNameSchema = z.enum(['webgpu', 'tensorflow', 'wasm', 'cpu']);

/** The WebGPU adapter a backend runs on (issue 8): shown in the UI and kept in the run record. */
export const webGpuAdapterSchema = z.strictObject({
  vendor: z.string(),
  architecture: z.string(),
  device: z.string(),
  description: z.string(),
  isFallbackAdapter: z.boolean(),
  /** A CPU implementation of a GPU (SwiftShader, llvmpipe): refused unless asked for. */
  software: z.boolean(),
  dawnBackend: z.enum(['default', 'opengl']),
});

export const backendCheckSchema = z.strictObject({
  name: backendNameSchema,
  /** Whether the backend loaded and initialised in this process. */
  loads: z.boolean(),
  /** Why it does not load (or what it is, when it does), in words a user can act on. */
  reason: z.string(),
  /** What the user can do (null: nothing to do). */
  advice: z.string().nullable(),
  /** Images per second of a full MoCo training step (null: not benchmarked). */
  imagesPerSecond: z.number().nullable(),
  /** Median milliseconds of one timed step (null: not benchmarked). */
  stepMs: z.number().nullable(),
  /** Timed steps (after one warm-up step, except on cpu). */
  steps: z.number().int(),
  /** Why the benchmark was skipped or shortened (null: a full benchmark). */
  benchmarkNote: z.string().nullable(),
  /** webgpu only: the adapter found, also when it was refused (absent in older reports). */
  adapter: webGpuAdapterSchema.nullable().optional(),
  /**
   * wasm only (issue 9): the same step data-parallel over the default number of worker threads
   * (imagesPerSecond above is one thread, W=1). Absent in older reports; null when not measured.
   */
  workers: z.strictObject({
    count: z.number().int().min(1),
    imagesPerSecond: z.number().nullable(),
    stepMs: z.number().nullable(),
    steps: z.number().int(),
    /** Why this count (shared/workers.ts), or why it was not measured. */
    note: z.string(),
  }).nullable().optional(),
});
export type BackendCheck = z.infer<typeof backendCheckSchema>;

export const backendReportSchema = z.strictObject({
  createdAt: z.string(),
  platform: z.string(),
  arch: z.string(),
  node: z.string(),
  /** Benchmark budget in seconds, split across the backends that load (cpu gets one step). */
  seconds: z.number(),
  /** What one benchmark step is. */
  workload: z.strictObject({ model: z.string(), imageSize: z.number().int(), batchSize: z.number().int(), queueSize: z.number().int() }),
  backends: z.array(backendCheckSchema),
  /** The fastest benchmarked backend (null: none could be benchmarked). */
  fastest: backendNameSchema.nullable(),
  /** The order training's 'auto' tries: fastest measured first, then the other loading ones, then the rest. */
  order: z.array(backendNameSchema),
});
export type BackendReport = z.infer<typeof backendReportSchema>;

// ---- host -> trainer ------------------------------------------------------------------------

/** A checkpoint file name in the run's checkpoints directory (never a path). */
export const checkpointNameSchema = z.string().regex(/^step-\d{9}\.ckpt$/, 'a checkpoint file name such as step-000000010.ckpt');

export const trainerCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('start'),
    /** The image folder the user chose. */
    folder: z.string().min(1),
    /** The run's own directory (config, metrics, checkpoints, embeddings, log). */
    runDirectory: z.string().min(1),
    /** Where decoded, downscaled copies are cached across runs. */
    cacheDirectory: z.string().min(1),
    /** What the user set; the trainer fills the rest once it knows the usable images and the backend. */
    userSettings: trainingSettingsSchema,
    /** Continue from the run's newest good checkpoint, with the run's recorded settings. */
    resume: z.boolean(),
    /** The backend doctor's report (`<data>/backend-report.json`): when fresh, 'auto' prefers its fastest backend. */
    backendReport: z.string().min(1).optional(),
    /** A new run only: start from the encoders (and the queue, when it fits) of this run's newest checkpoint, e.g. an imported PyTorch model (issue 11). */
    initFrom: z.string().min(1).optional(),
  }),
  /**
   * Embed every image of the run's folder with its newest checkpoint (or the named `checkpoint`)
   * and store the matrix in the run's embeddings directory (or `outputDirectory`).
   */
  z.strictObject({
    type: z.literal('embed'), runDirectory: z.string().min(1), cacheDirectory: z.string().min(1), checkpoint: checkpointNameSchema.optional(), outputDirectory: z.string().min(1).optional(),
    /** Standardised raw pixels at the training size instead of an encoder's features (no checkpoint; main/trainer/pixel-embeddings.ts). */
    pixels: z.literal(true).optional(),
  }),
  /** Embed image files from anywhere (a query image for neighbour search) with the newest (or the named) checkpoint, or as pixels; answered by `vectors`. */
  z.strictObject({ type: z.literal('embed-files'), runDirectory: z.string().min(1), files: z.array(z.string().min(1)).min(1).max(1000), checkpoint: checkpointNameSchema.optional(), pixels: z.literal(true).optional() }),
  /** Weighted kNN accuracy of the run's encoder: test folder classified against train folder. */
  z.strictObject({
    type: z.literal('knn'),
    runDirectory: z.string().min(1),
    cacheDirectory: z.string().min(1),
    trainFolder: z.string().min(1),
    testFolder: z.string().min(1),
    k: z.number().int().min(1).max(10_000),
  }),
  /**
   * The backend doctor: which backends load (and why not), a micro-benchmark of each for about
   * `seconds` in all; the report is written atomically to `reportPath` and answered by `doctor`.
   * The cpu backend is timed (one step, ~30 s for this workload on a laptop core) only with `cpuStep`.
   */
  z.strictObject({ type: z.literal('doctor'), seconds: z.number().min(0.5).max(300), reportPath: z.string().min(1).optional(), cpuStep: z.boolean().optional() }),
  /**
   * Times the MoCo step of these settings, resolved for `imageCount` images on the backend training
   * would choose, through the run's own compute host; answered by `estimate` (issue 12: an honest ETA before Start).
   */
  z.strictObject({ type: z.literal('estimate'), userSettings: trainingSettingsSchema, imageCount: z.number().int().min(2), backendReport: z.string().min(1).optional() }),
  z.strictObject({ type: z.literal('pause') }),
  z.strictObject({ type: z.literal('resume') }),
  /** Stop after the current step, writing a checkpoint. */
  z.strictObject({ type: z.literal('stop') }),
]);
export type TrainerCommand = z.infer<typeof trainerCommandSchema>;

// ---- trainer -> host ------------------------------------------------------------------------

const stepMetricsSchema = z.strictObject({
  loss: z.number(),
  top1: z.number(),
  top5: z.number(),
  positiveLogit: z.number(),
  negativeLogit: z.number(),
  embeddingStd: z.number(),
  queueFill: z.number(),
  learningRate: z.number(),
});

const cropParamsSchema = z.record(z.string(), z.unknown());

/** Counts of the kNN monitor's predictions, `counts[truth][predicted]`, with the class names (issue 12 item 5). */
export const knnConfusionSchema = z.strictObject({ classes: z.array(z.string()), counts: z.array(z.array(z.number().int().min(0))) });
export type KnnConfusion = z.infer<typeof knnConfusionSchema>;

/**
 * A progress signal without labels (issue 10 Deliver 3), on the monitor's images:
 * uniformity (Wang & Isola 2020: log E exp(-2 |f(x)-f(y)|^2), lower = spread more evenly) and
 * the share of each image's 10 nearest neighbours that were also its neighbours at the previous
 * epoch (null at the first; near 1 = the embedding stopped changing).
 */
export const unsupervisedSignalSchema = z.strictObject({ uniformity: z.number(), neighbourAgreement: z.number().nullable(), images: z.number().int() });
export type UnsupervisedSignal = z.infer<typeof unsupervisedSignalSchema>;

/** The kNN baselines of a run, kept in its record so a resumed or reopened run shows them (issue 12 item 2). */
export const runBaselinesSchema = z.strictObject({ knnTop1RandomInit: z.number().nullable(), knnTop1Pixels: z.number() });
/** The backend a run trained on, kept in its record. */
export const runBackendSchema = z.strictObject({ name: backendNameSchema, adapter: webGpuAdapterSchema.nullable().optional() });

export const previewEventSchema = z.strictObject({
  type: z.literal('preview'),
  globalStep: z.number().int(),
  pairs: z.array(z.strictObject({
    relativePath: z.string(),
    queryPng: z.string(), // base64
    keyPng: z.string(),
    query: cropParamsSchema,
    key: cropParamsSchema,
  })),
});

export const trainerEventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('backend'),
    name: backendNameSchema,
    attempts: z.array(z.strictObject({ name: z.string(), ok: z.boolean(), reason: z.string() })),
    /** The WebGPU adapter when training runs on webgpu (issue 8). */
    adapter: webGpuAdapterSchema.nullable().optional(),
  }),
  z.strictObject({
    type: z.literal('settings'),
    settings: resolvedSettingsSchema,
    reasons: z.record(z.string(), z.string()),
    adjustments: z.array(z.strictObject({ field: z.string(), from: z.number(), to: z.number(), reason: z.string() })),
  }),
  z.strictObject({ type: z.literal('loading'), done: z.number().int(), total: z.number().int() }),
  /**
   * The folder scan before loading (issue 13 item 8): files and folders seen so far, at most 10 a
   * second, then one with done. reused: the folder check's scan still held, nothing was walked.
   */
  z.strictObject({ type: z.literal('scanning'), files: z.number().int(), folders: z.number().int(), done: z.boolean(), reused: z.boolean() }),
  z.strictObject({
    type: z.literal('dataset'),
    found: z.number().int(),
    used: z.number().int(),
    fromCache: z.number().int(),
    skipped: z.array(z.strictObject({ path: z.string(), reason: z.string() })),
    classes: z.array(z.string()),
  }),
  z.strictObject({
    type: z.literal('progress'),
    epoch: z.number().int(), // 0-based epoch the last step belonged to
    epochs: z.number().int(),
    step: z.number().int(), // 1-based step within the epoch
    stepsPerEpoch: z.number().int(),
    globalStep: z.number().int(),
    totalSteps: z.number().int(),
    imagesPerSecond: z.number(),
    etaSeconds: z.number(),
  }),
  z.strictObject({ type: z.literal('metrics'), epoch: z.number().int(), globalStep: z.number().int(), metrics: stepMetricsSchema }),
  z.strictObject({
    type: z.literal('epoch'),
    epoch: z.number().int(),
    meanLoss: z.number(),
    knnTop1: z.number().nullable(),
    knnTop5: z.number().nullable(),
    seconds: z.number(),
    /** With classes: the monitor's confusion counts (per-class accuracy is their diagonal share). */
    confusion: knnConfusionSchema.optional(),
    /** Without classes: the unsupervised progress signal. */
    unsupervised: unsupervisedSignalSchema.optional(),
  }),
  previewEventSchema,
  /** The progress signal stopped improving (shared/plateau.ts); the UI offers to stop. Sent once per run. */
  z.strictObject({ type: z.literal('plateau'), metric: z.enum(['knn', 'loss']), epoch: z.number().int(), best: z.number(), message: z.string() }),
  /** The kNN monitor's baselines on the same images, before the first step (random init: null on resume). */
  z.strictObject({ type: z.literal('baselines'), knnTop1RandomInit: z.number().nullable(), knnTop1Pixels: z.number() }),
  z.strictObject({ type: z.literal('checkpoint'), path: z.string(), globalStep: z.number().int(), epoch: z.number().int() }),
  z.strictObject({ type: z.literal('state'), state: z.enum(['loading', 'training', 'paused', 'stopping']) }),
  z.strictObject({ type: z.literal('embedded'), directory: z.string(), rows: z.number().int(), dim: z.number().int(), checkpoint: z.string() }),
  z.strictObject({ type: z.literal('vectors'), dim: z.number().int(), vectors: z.array(z.array(z.number())), failures: z.array(z.strictObject({ path: z.string(), reason: z.string() })) }),
  z.strictObject({
    type: z.literal('knn'),
    top1: z.number(),
    top5: z.number(),
    k: z.number().int(),
    trainImages: z.number().int(),
    testImages: z.number().int(),
    classes: z.array(z.string()),
  }),
  /**
   * The estimate job's answer: the median of the timed steps, and the steps the settings make;
   * startupSeconds from this process's start to a warmed-up compute host (what a run pays before
   * its first step, without decoding the folder); embedSecondsPerImage of an eval-mode embed.
   */
  z.strictObject({
    type: z.literal('estimate'), backend: backendNameSchema, workers: z.number().int(), settings: resolvedSettingsSchema,
    secondsPerStep: z.number().min(0), timedSteps: z.number().int(), stepsPerEpoch: z.number().int(), totalSteps: z.number().int(),
    startupSeconds: z.number().min(0), embedSecondsPerImage: z.number().min(0),
  }),
  /** The backend doctor's answer. */
  z.strictObject({ type: z.literal('doctor'), report: backendReportSchema }),
  z.strictObject({ type: z.literal('log'), message: z.string() }),
  z.strictObject({ type: z.literal('warning'), message: z.string() }),
  z.strictObject({ type: z.literal('error'), code: z.string(), message: z.string() }),
  z.strictObject({
    type: z.literal('done'),
    reason: z.enum(['finished', 'stopped', 'failed']),
    summary: z.strictObject({
      imagesUsed: z.number().int(),
      imagesSkipped: z.number().int(),
      epochs: z.number().int(),
      steps: z.number().int(),
      imagesPerSecond: z.number(),
      finalLoss: z.number().nullable(),
      knnTop1: z.number().nullable(),
      /** kNN top-1 of the encoder before this run's first step (random init), for comparison. */
      knnTop1AtStart: z.number().nullable(),
      /** kNN top-1 of standardised raw pixels on the same images: what training must beat (issue 10). */
      knnTop1Pixels: z.number().nullable().optional(),
      backend: z.string(),
      /** The WebGPU adapter when the run trained on webgpu (issue 8). */
      backendAdapter: webGpuAdapterSchema.nullable().optional(),
      runDirectory: z.string(),
      checkpoint: z.string().nullable(),
    }),
  }),
]);
export type TrainerEvent = z.infer<typeof trainerEventSchema>;
export type TrainerEventOf<T extends TrainerEvent['type']> = Extract<TrainerEvent, { type: T }>;
export type RunSummary = TrainerEventOf<'done'>['summary'];

export function parseTrainerCommand(message: unknown): TrainerCommand {
  const result = trainerCommandSchema.safeParse(message);
  if (!result.success) throw new Error(`Invalid trainer command: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

export function parseTrainerEvent(message: unknown): TrainerEvent {
  const result = trainerEventSchema.safeParse(message);
  if (!result.success) throw new Error(`Invalid trainer event: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}
