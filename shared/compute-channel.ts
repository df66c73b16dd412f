/**
 * Zod schemas of the compute-replica messages (main/ml/compute-protocol.ts) as they cross a
 * transport between processes (issue 8): the desktop app's hidden renderer answers the trainer
 * over a MessagePort. A renderer is the less trusted side, so every reply envelope and every
 * reply is validated before the coordinator uses it; and the page validates every request before
 * its replica acts on it (sizes bounded, pixel arrays the length their shape says), so a bad
 * message is an error reply, never a crash or an allocation the sender chose. (worker_threads
 * replicas are our own threads and are not validated: the data stays in one process.)
 */
import { z } from 'zod';
import { webGpuAdapterSchema } from './trainer-protocol.js';

const f32 = z.instanceof(Float32Array);
const count = z.number().int().nonnegative();
const phases = z.record(z.string(), z.number());

/** One reply on the wire: its request's id, and the reply or an error message. */
export const replicaReplyEnvelopeSchema = z.object({
  id: count,
  reply: z.unknown().optional(),
  error: z.string().optional(),
});

const metricPartial = z.object({
  count, loss: z.number(), top1: count, top5: count,
  positiveSum: z.number(), negativeSum: z.number(), negativeCount: count,
  queries: f32, dim: count,
});

const modelState = z.object({
  tensors: z.array(z.object({ name: z.string(), shape: z.array(count), values: f32 })),
  moco: z.object({ queuePointer: count, keysEnqueued: count, shuffleRng: z.tuple([z.number(), z.number(), z.number(), z.number()]) }),
});

const empty = z.object({}).strict();

/** The reply schema of each request type. */
export const replicaReplySchemas = {
  init: z.object({ parameterCount: count, bufferCount: count, dim: count, adapter: webGpuAdapterSchema.optional() }),
  keys: z.object({ keys: f32, phases }),
  gradients: z.object({ partial: metricPartial, buffers: f32, gradients: f32.nullable(), phases }),
  apply: z.object({ phases }),
  export: modelState,
  import: empty,
  embed: z.object({ values: f32, dim: count }),
  heap: z.object({ bytes: z.number().nullable() }),
  probe: z.object({ backend: z.string(), adapter: webGpuAdapterSchema.optional() }),
  dispose: empty,
} as const;

export type ReplicaRequestType = keyof typeof replicaReplySchemas;

/** A replica's WebGPU adapter as it reports it (= main/ml/webgpu-backend.ts WebGpuAdapterReport). */
export type ReplicaAdapter = z.infer<typeof webGpuAdapterSchema>;

// ---- requests (trainer -> replica), validated by the serve loop of a page -------------------

/** Bounds the replica will accept: the training settings' own limits (shared/training-settings.ts). */
const LIMITS = { batch: 4096, imageSize: 512, dim: 4096, queue: 1 << 20 } as const;
const positiveInt = (max: number) => z.number().int().min(1).max(max);
const finite = z.number(); // zod 4 numbers are finite by default

const encoderConfig = z.object({
  architecture: z.enum(['resnet18', 'resnet34', 'resnet50']),
  widthMultiplier: z.number().gt(0).max(4),
  smallImageStem: z.boolean(),
  head: z.enum(['linear', 'mlp']),
  dim: positiveInt(LIMITS.dim),
  bnSplits: positiveInt(LIMITS.batch),
  bnMomentum: finite.optional(),
  bnEpsilon: finite.optional(),
});
const schedule = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('cosine') }),
  z.object({ kind: z.literal('constant') }),
  z.object({ kind: z.literal('step'), milestones: z.array(z.number().int().nonnegative()).max(64), gamma: finite }),
]);
const setup = z.object({
  moco: z.object({ encoder: encoderConfig, queueSize: positiveInt(LIMITS.queue), keyMomentum: finite, temperature: finite, shuffleKeys: z.boolean() }),
  sgd: z.object({ learningRate: finite, momentum: finite, weightDecay: finite, schedule, warmupEpochs: z.number().nonnegative() }),
  seed: z.number().int(),
  batchSize: positiveInt(LIMITS.batch),
  replicas: positiveInt(64),
  index: z.number().int().nonnegative(),
  // Not z.instanceof(SharedArrayBuffer): the global is missing where a page is not cross-origin
  // isolated (the compute page), and evaluating it there would stop the page loading.
  gradients: z.custom<SharedArrayBuffer>((v) => typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer, 'a SharedArrayBuffer').nullable(),
  backend: z.enum(['wasm', 'cpu', 'webgpu']),
});

/** Pixels [count, S, S, 3]: the array must be exactly that long. */
const pixelFields = { pixels: f32, count: positiveInt(LIMITS.batch), imageSize: positiveInt(LIMITS.imageSize) };
const pixelsFit = (r: { pixels: Float32Array; count: number; imageSize: number }): boolean => r.pixels.length === r.count * r.imageSize * r.imageSize * 3;
const pixelsMessage = { message: 'pixels must hold count x imageSize x imageSize x 3 values', path: ['pixels'] };

/** The schema of each request type (the type itself is checked by the lookup). */
export const replicaRequestSchemas: Record<ReplicaRequestType, z.ZodType> = {
  init: z.object({ setup }),
  keys: z.object(pixelFields).refine(pixelsFit, pixelsMessage),
  gradients: z.object({ ...pixelFields, positiveKeys: f32, lossScale: z.number().gt(0).max(1) }).refine(pixelsFit, pixelsMessage),
  apply: z.object({ keys: f32, learningRate: finite, buffers: f32.nullable(), gradients: z.array(f32).max(64).nullable() }),
  export: z.object({}),
  import: z.object({ state: modelState }),
  embed: z.object({ ...pixelFields, representation: z.enum(['backbone', 'head', 'multistage']) }).refine(pixelsFit, pixelsMessage),
  heap: z.object({}),
  probe: z.object({ backend: z.enum(['wasm', 'cpu', 'webgpu']) }),
  dispose: z.object({}),
};

/** One request on the wire. */
export const replicaRequestEnvelopeSchema = z.object({ id: count, request: z.unknown() });
