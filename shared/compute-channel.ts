/**
 * Zod schemas of the compute-replica replies (main/ml/compute-protocol.ts) as they arrive over a
 * transport between processes (issue 8): the desktop app's hidden renderer answers the trainer
 * over a MessagePort, and a renderer is the less trusted side, so every reply envelope and every
 * reply is validated before the coordinator uses it. (worker_threads replicas are our own
 * threads and are not validated: the data stays in one process.)
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
