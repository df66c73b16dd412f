/**
 * The one contract between the UI and the app core, whatever carries it: Electron IPC (preload
 * builds `window.api` from it, main registers handlers from it) or the headless server's
 * WebSocket (the browser client and the server dispatch through it). Every request, response
 * and event payload has a runtime schema here; TypeScript types are derived from them.
 *
 * Invoke: request -> response (or an error envelope {code, message}).
 * Events: pushed from the core to every connected UI.
 */
import { z } from 'zod';
import { BASE64_PATTERN, decodedLength } from './binary-base64.js';
import { backendReportSchema, checkpointNameSchema, knnConfusionSchema, previewEventSchema, runBackendSchema, runBaselinesSchema, trainerEventSchema, unsupervisedSignalSchema } from './trainer-protocol.js';
import { resolvedSettingsSchema, trainingSettingsSchema } from './training-settings.js';

const runId = z.string().min(1).max(200).regex(/^[^/\\]+$/, 'a run id, not a path');
const base64Text = z.string().regex(BASE64_PATTERN, 'base64 (standard alphabet, padded)');

/** An object whose base64 field `field` must hold exactly `count(object)` float32 values. */
function float32Reply<S extends z.ZodRawShape>(shape: S, field: keyof S & string, count: (reply: z.infer<z.ZodObject<S>>) => number) {
  return z.strictObject(shape).superRefine((reply, context) => {
    const text = (reply as Record<string, unknown>)[field];
    const expected = count(reply) * 4;
    if (typeof text === 'string' && decodedLength(text) !== expected) context.addIssue({ code: 'custom', path: [field], message: `holds ${decodedLength(text)} bytes, expected ${expected}` });
  });
}

export const folderSummarySchema = z.strictObject({
  /** Absolute path of the chosen folder. */
  path: z.string(),
  /** Opaque id under which the folder's images are served (image URLs use it). */
  folderId: z.string(),
  imagesFound: z.number().int(),
  skipped: z.array(z.strictObject({ path: z.string(), reason: z.string() })),
  classes: z.array(z.string()),
  /** Relative paths of every image found, in scan order (the UI virtualises the grid). */
  images: z.array(z.strictObject({ relativePath: z.string(), className: z.string().nullable() })),
  /** Suggested settings for this folder on the backend that would be used, with reasons. */
  suggestion: z.strictObject({
    backend: z.enum(['webgpu', 'tensorflow', 'wasm', 'cpu']),
    settings: resolvedSettingsSchema,
    reasons: z.record(z.string(), z.string()),
  }).nullable(),
  /** Why no suggestion could be made (e.g. fewer than 2 images). */
  problem: z.string().nullable(),
});
export type FolderSummary = z.infer<typeof folderSummarySchema>;

export const runListItemSchema = z.strictObject({
  id: runId,
  folder: z.string(),
  folderId: z.string(),
  createdAt: z.string(),
  status: z.enum(['created', 'training', 'stopped', 'finished', 'failed', 'crashed']),
  settings: resolvedSettingsSchema.nullable(),
  summary: z.record(z.string(), z.unknown()).nullable(),
  hasEmbeddings: z.boolean(),
  checkpoints: z.array(z.string()),
  /** Why a run failed or crashed (run.json's message); null otherwise. */
  message: z.string().nullable(),
  /** Whether runs:resume can continue it (issue 12 item 1: no Resume that cannot work). */
  canResume: z.boolean(),
});
export type RunListItem = z.infer<typeof runListItemSchema>;

export const metricPointSchema = z.strictObject({
  step: z.number(),
  epoch: z.number(),
  loss: z.number(),
  top1: z.number(),
  top5: z.number(),
  learningRate: z.number(),
  embeddingStd: z.number(),
  /** Fraction of the queue holding real keys (1 once K keys were enqueued); absent in older runs. */
  queueFill: z.number().optional(),
});
export type MetricPoint = z.infer<typeof metricPointSchema>;

export const runDetailsSchema = z.strictObject({
  run: runListItemSchema,
  /** Step metrics, decimated to at most ~2000 points for charts. */
  metrics: z.array(metricPointSchema),
  epochs: z.array(z.strictObject({
    epoch: z.number(), meanLoss: z.number(), knnTop1: z.number().nullable(), knnTop5: z.number().nullable(),
    confusion: knnConfusionSchema.optional(), unsupervised: unsupervisedSignalSchema.optional(),
  })),
  /** Issue 12 item 2: what a reopened run needs to look as it did (all absent in older runs). */
  preview: previewEventSchema.nullable().optional(),
  baselines: runBaselinesSchema.nullable().optional(),
  backend: runBackendSchema.nullable().optional(),
  /** Steps per epoch of the run (null: not known yet), for its progress. */
  stepsPerEpoch: z.number().int().nullable().optional(),
});
export type RunDetails = z.infer<typeof runDetailsSchema>;

export const neighbourSchema = z.strictObject({
  row: z.number().int(),
  relativePath: z.string(),
  className: z.string().nullable(),
  similarity: z.number(),
});
export type Neighbour = z.infer<typeof neighbourSchema>;

const empty = z.strictObject({});

/** An uploaded query image's size limit: its base64 fits in one WebSocket frame (1 MB) with room to spare; the UI shrinks larger images first. */
export const MAX_UPLOAD_BYTES = 600 * 1024;
const MAX_UPLOAD_BASE64_CHARS = Math.ceil(MAX_UPLOAD_BYTES / 3) * 4;

/** Every invoke channel: name -> request and response schemas. */
export const invokeContract = {
  'app:info': {
    request: empty,
    response: z.strictObject({ version: z.string(), dataDirectory: z.string(), transport: z.enum(['electron', 'websocket']), platform: z.string(), canPickFolder: z.boolean() }),
  },
  /** Choose a folder: by path (browser, or a path typed in the app) or, in Electron without a path, the native dialog. null = cancelled. */
  'folder:choose': { request: z.strictObject({ path: z.string().min(1).max(4096).optional() }), response: folderSummarySchema.nullable() },
  /** The bundled sample set (written on first use) as the chosen folder. */
  'folder:sample': { request: empty, response: folderSummarySchema },
  /** Directory completion for a typed path (browser folder picker). */
  'folder:complete': { request: z.strictObject({ partial: z.string().max(4096) }), response: z.strictObject({ completions: z.array(z.string()) }) },
  'training:start': { request: z.strictObject({ folderId: z.string(), settings: trainingSettingsSchema }), response: z.strictObject({ runId }) },
  'training:pause': { request: empty, response: empty },
  'training:resume': { request: empty, response: empty },
  'training:stop': { request: empty, response: empty },
  /**
   * The run training now (null: none) and the latest event of each kind that describes it
   * (state, backend, settings, dataset, progress, preview, baselines, ...): with runs:open's
   * history, a reloaded page rebuilds the Training view (issue 12 item 2).
   */
  /**
   * How long these settings would take on `imageCount` images here, from Start to finished: the
   * step timed now (or earlier, for the same backend and settings shape) on the backend training
   * would use, the trainer's start-up measured by the same job, and the embedding of the kNN
   * checks and final embeddings at the timed rate (issue 12). `hasClasses` picks the monitor.
   */
  'training:estimate': {
    request: z.strictObject({ settings: trainingSettingsSchema, imageCount: z.number().int().min(2).max(100_000_000), hasClasses: z.boolean().optional() }),
    response: z.strictObject({
      backend: z.enum(['webgpu', 'tensorflow', 'wasm', 'cpu']), workers: z.number().int(), secondsPerStep: z.number(), timedSteps: z.number().int(),
      stepsPerEpoch: z.number().int(), totalSteps: z.number().int(), trainingSeconds: z.number(),
      startupSeconds: z.number(), embeddedImages: z.number().int(), embeddingSeconds: z.number(), totalSeconds: z.number(), cached: z.boolean(),
    }),
  },
  'training:status': { request: empty, response: z.strictObject({ runId: runId.nullable(), events: z.array(trainerEventSchema) }) },
  'runs:list': { request: empty, response: z.strictObject({ runs: z.array(runListItemSchema) }) },
  'runs:open': { request: z.strictObject({ runId }), response: runDetailsSchema },
  /** Continue a stopped or crashed run from its newest good checkpoint. */
  'runs:resume': { request: z.strictObject({ runId }), response: z.strictObject({ runId }) },
  'runs:delete': { request: z.strictObject({ runId }), response: empty },
  /** The run's dataset report (issue 12 item 1): every file its trainer skipped, with the reason (skipped.json). */
  'runs:dataset': {
    request: z.strictObject({ runId }),
    response: z.strictObject({ count: z.number().int(), skipped: z.array(z.strictObject({ path: z.string(), reason: z.string() })) }),
  },
  /** Writes the export into the run's exports folder and answers its path (a browser downloads it from /exports/<runId>/<format> instead). */
  'runs:export': {
    request: z.strictObject({ runId, format: z.enum(['csv', 'npy', 'tfjs', 'onnx', 'torch']) }),
    response: z.strictObject({ path: z.string() }),
  },
  /**
   * Import a PyTorch checkpoint (official MoCo, torchvision ResNet; issue 11) as a new run that
   * embeds the chosen folder `folderId` at once, so Neighbours and Map work without training.
   */
  'runs:import': {
    request: z.strictObject({ path: z.string().min(1).max(4096), folderId: z.string() }),
    response: z.strictObject({ runId, architecture: z.string(), layout: z.string(), format: z.string() }),
  },
  /**
   * Top-k neighbours of an image of the run's folder (row), of an outside image file (imagePath) or of uploaded bytes (upload), in the
   * run's stored embeddings or, with `checkpoint`, in the embeddings of that checkpoint of the run.
   */
  'neighbours:query': {
    request: z.strictObject({
      runId, row: z.number().int().min(0).optional(), imagePath: z.string().min(1).max(4096).optional(),
      /** An image uploaded from the browser: its bytes, base64 (issue 12 item 7); never a server path. */
      upload: z.strictObject({ name: z.string().min(1).max(255), base64: z.string().min(1).max(MAX_UPLOAD_BASE64_CHARS).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64') }).optional(),
      k: z.number().int().min(1).max(200), checkpoint: checkpointNameSchema.optional(),
      /** Search the run's images as standardised raw pixels at the training size (the baseline; issue 10 item 3) instead of an encoder's embeddings. */
      pixels: z.literal(true).optional(),
    }),
    response: z.strictObject({
      neighbours: z.array(neighbourSchema),
      /** Whose embeddings answered: a checkpoint file name, the stored embeddings' checkpoint, or 'pixels'; `live`: the newest checkpoint of a run still training (issue 12 item 3). */
      source: z.strictObject({ checkpoint: z.string(), live: z.boolean() }),
    }),
  },
  /** The run's embedded images in row order (the grid's list: cheap, so it never waits for the map). */
  'embeddings:items': {
    request: z.strictObject({ runId }),
    response: z.strictObject({ items: z.array(z.strictObject({ relativePath: z.string(), className: z.string().nullable() })), classes: z.array(z.string()), checkpoint: z.string() }),
  },
  /**
   * 2-D PCA projection of every row of the run's embeddings, row-major Float32 [x0, y0, x1, ...] as
   * base64 (issue 14), with axes fitted on `fittedRows` spread rows; cached per checkpoint.
   */
  'embeddings:map': {
    request: z.strictObject({ runId }),
    response: float32Reply({ rows: z.number().int().min(0), fittedRows: z.number().int().min(0), points: base64Text, explainedVariance: z.tuple([z.number(), z.number()]), checkpoint: z.string() }, 'points', (r) => r.rows * 2),
  },
  /**
   * An evenly spread sample of at most `maxRows` of the run's embedding rows (and fewer for wide
   * embeddings, see map-projection.ts), for a UMAP fitted in the renderer (issue 12 item 6):
   * `rowIndexes` base64 Int32, `vectors` base64 Float32 rows x dim.
   */
  'embeddings:sample': {
    request: z.strictObject({ runId, maxRows: z.number().int().min(2).max(20_000) }),
    response: float32Reply({ rows: z.number().int().min(0), dim: z.number().int().min(1), totalRows: z.number().int().min(0), rowIndexes: base64Text, vectors: base64Text, checkpoint: z.string() }, 'vectors', (r) => r.rows * r.dim),
  },
  /**
   * The backend doctor: which backends load, why the others do not and what to do, and a
   * micro-benchmark of each (about `seconds` in all, default 10; `quick`: 2). Runs in a trainer
   * process; the report is stored in the data directory and training's 'auto' prefers its fastest backend.
   */
  'backend:doctor': {
    request: z.strictObject({ seconds: z.number().min(0.5).max(120).optional(), quick: z.boolean().optional() }),
    response: backendReportSchema,
  },
  /** The stored doctor report, or null when the doctor has not run yet. */
  'backend:report': { request: empty, response: backendReportSchema.nullable() },
} as const;

export type InvokeChannel = keyof typeof invokeContract;
export type InvokeRequest<C extends InvokeChannel> = z.infer<(typeof invokeContract)[C]['request']>;
export type InvokeResponse<C extends InvokeChannel> = z.infer<(typeof invokeContract)[C]['response']>;

/** Events from the core: a training event of the active run, or the run list changed. */
export const eventContract = {
  'training:event': z.strictObject({ runId, event: trainerEventSchema }),
  'runs:changed': empty,
  /**
   * Progress of the folder check of `folder:choose` / `folder:sample` (issue 13 item 8, issue 12):
   * phase 'listing' counts files and folders seen; phase 'headers' counts files whose first bytes
   * were checked, of `total`. At most 10 a second per phase, then one with done.
   */
  'folder:scanning': z.strictObject({
    path: z.string(),
    phase: z.enum(['listing', 'headers']),
    files: z.number().int(),
    folders: z.number().int(),
    checked: z.number().int(),
    total: z.number().int(),
    done: z.boolean(),
  }),
} as const;
export type EventChannel = keyof typeof eventContract;
export type EventPayload<C extends EventChannel> = z.infer<(typeof eventContract)[C]>;

/** Errors cross every boundary as this envelope, never as stack traces. */
export const errorEnvelopeSchema = z.strictObject({ code: z.string(), message: z.string() });
export type ErrorEnvelope = z.infer<typeof errorEnvelopeSchema>;

export const INVOKE_CHANNELS = Object.keys(invokeContract) as InvokeChannel[];
export const EVENT_CHANNELS = Object.keys(eventContract) as EventChannel[];

/** What `window.api` is, in Electron and in the browser alike. */
export interface MocoApi {
  invoke<C extends InvokeChannel>(channel: C, request: InvokeRequest<C>): Promise<InvokeResponse<C>>;
  on<C extends EventChannel>(channel: C, listener: (payload: EventPayload<C>) => void): () => void;
  /** URL of an image of a chosen folder (custom protocol in Electron, HTTP route in the browser). */
  imageUrl(folderId: string, relativePath: string): string;
  /** Browser only: the URL that downloads an export of a run (Content-Disposition: attachment). Absent in Electron, which shows the written path. */
  exportUrl?: (runId: string, format: 'csv' | 'npy' | 'tfjs' | 'onnx' | 'torch') => string;
  /**
   * Electron only: the file-system path of a dropped File (Electron 32+ removed File.path).
   * Absent in the browser, which never reveals paths. Typed loosely: shared/ has no DOM types.
   */
  pathForFile?: (file: unknown) => string | null;
}

export function parseInvokeRequest<C extends InvokeChannel>(channel: string, request: unknown): { channel: C; request: InvokeRequest<C> } {
  // Own keys only: `in` also finds inherited names (__proto__, constructor, toString), which then crashed as "internal" (issue 13).
  if (!Object.hasOwn(invokeContract, channel)) throw new ContractError('unknown-channel', `Unknown channel "${channel}"`);
  const result = invokeContract[channel as C].request.safeParse(request);
  if (!result.success) throw new ContractError('invalid-request', `${channel}: ${result.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`);
  return { channel: channel as C, request: result.data as InvokeRequest<C> };
}

export class ContractError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ContractError';
  }
}

/** WebSocket frames of the headless server. */
export const clientFrameSchema = z.strictObject({ id: z.number().int().min(0), channel: z.string().max(100), request: z.unknown() });
export const serverFrameSchema = z.union([
  z.strictObject({ id: z.number().int(), ok: z.literal(true), response: z.unknown() }),
  z.strictObject({ id: z.number().int(), ok: z.literal(false), error: errorEnvelopeSchema }),
  z.strictObject({ event: z.string(), payload: z.unknown() }),
]);
