/**
 * Where the MoCo step runs (issue 9; the seam issue 8's WebGPU hosts plug into).
 *
 * The trainer (trainer.ts) owns the data side: image order, augmentation, learning-rate
 * schedule, epoch counters. A ComputeHost owns the model side: both encoders, the queue, the SGD
 * momentum buffers and the MoCo bookkeeping, and runs each step on them. Everything crosses as
 * plain typed arrays, so a host may live in this thread, in worker_threads, or at the far end of
 * a MessagePort (a hidden Electron renderer with WebGPU), and every call is asynchronous (a GPU
 * tensor can only be read with `await data()` in Node, issue 8).
 *
 * Implementations:
 *   InProcessHost (in-process-host.ts): one replica in this thread, the step as today.
 *   WorkerPoolHost (worker-pool-host.ts): W replicas in worker_threads, data-parallel.
 * Both drive the same MoCo step (moco.ts: keyForward, queryGradients, finishStep); a replica
 * (compute-replica.ts) answers the messages of compute-protocol.ts over any transport.
 *
 * Life cycle: a host is created from the training configuration with the seed's initial model
 * (init), optionally given a checkpoint's state (importState), then stepped; exportState for
 * checkpoints; dispose once.
 */
import type { Representation } from './batches.js';
import type { PhaseTimes, StepMetrics } from './moco.js';
import type { ModelState } from './training-state.js';

/** One step's two views of N images, each [N, S, S, 3] row-major, ImageNet-normalised. */
export interface StepBatch {
  readonly queryPixels: Float32Array;
  readonly keyPixels: Float32Array;
  readonly count: number; // N
  readonly imageSize: number; // S
}

export interface StepOutcome {
  readonly metrics: StepMetrics;
  /** Milliseconds per phase, one record per replica (index = replica), when asked for. */
  readonly phasesByReplica?: readonly PhaseTimes[];
}

/** L2-normalised embeddings [M, dim] row-major. */
export interface EmbeddingMatrix {
  readonly values: Float32Array;
  readonly dim: number;
}

export interface ComputeHost {
  /** 'in-process' or 'worker-pool' (later: 'webgpu', 'renderer'). */
  readonly kind: string;
  /** Replicas the batch is split over (1 in-process). */
  readonly replicas: number;
  /** One MoCo step on the batch: momentum update, keys, queries, loss, enqueue, SGD. */
  step(batch: StepBatch, learningRate: number, options?: { readonly timePhases?: boolean }): Promise<StepOutcome>;
  exportState(): Promise<ModelState>;
  /** Replaces the model state (resume); a state that does not fit the model changes nothing and rejects. */
  importState(state: ModelState): Promise<void>;
  /** Embeds eval-transformed pixels [M, S, S, 3] with the query encoder in eval mode. */
  embed(pixels: Float32Array, count: number, imageSize: number, representation?: Representation): Promise<EmbeddingMatrix>;
  /** Wasm heap bytes of each replica (null where unknown): memory bounds, bench and doctor. */
  heapBytes(): Promise<readonly (number | null)[]>;
  dispose(): Promise<void>;
}
