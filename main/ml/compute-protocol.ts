/**
 * The messages between a data-parallel coordinator (worker-pool-host.ts) and its replicas
 * (compute-replica.ts), transport-agnostic: worker_threads today, a MessagePort to an Electron
 * renderer or a WebGPU replica later (issue 8). Tensors cross as Float32Arrays (transferred,
 * not copied); gradients go through one SharedArrayBuffer where the transport allows it.
 *
 * One step is three rounds (the coordinator waits for every replica between rounds):
 *   keys       replica r: momentum update, keys of its slice of the Shuffle-BN-permuted x_k
 *   gradients  replica r: queries of its slice of x_q, logits against its positive keys and
 *              the (replicated) queue, loss scaled by slice/batch, gradients into region r
 *   apply      every replica: sum the W gradient regions (same order everywhere, so the
 *              replicas stay bit-identical), take the averaged BN statistics, enqueue all N
 *              keys, one SGD step
 */
import type { Representation } from './batches.js';
import type { MocoConfig, PhaseTimes } from './moco.js';
import type { SgdConfig } from './optimizer.js';
import type { ReplicaReply } from './compute-replica.js';
import type { MetricPartial } from './step-metrics.js';
import type { ModelState } from './training-state.js';
import type { ReplicaAdapter } from '../../shared/compute-channel.js';

export interface ReplicaSetup {
  readonly moco: MocoConfig;
  readonly sgd: SgdConfig;
  readonly seed: number;
  /** N: the whole batch; the replica holds N / replicas of it. */
  readonly batchSize: number;
  readonly replicas: number;
  readonly index: number;
  /**
   * replicas x P float32 gradients (P = parameter count); null: gradients travel in messages
   * (a transport between processes, e.g. the MessagePort to a renderer, cannot share memory).
   */
  readonly gradients: SharedArrayBuffer | null;
  /** The replica's backend; 'webgpu' only where the replica's context has WebGPU (a browser page). */
  readonly backend: 'wasm' | 'cpu' | 'webgpu';
}

export type ReplicaRequest =
  | { readonly type: 'init'; readonly setup: ReplicaSetup }
  | { readonly type: 'keys'; readonly pixels: Float32Array; readonly count: number; readonly imageSize: number }
  | { readonly type: 'gradients'; readonly pixels: Float32Array; readonly count: number; readonly imageSize: number; readonly positiveKeys: Float32Array; readonly lossScale: number }
  | { readonly type: 'apply'; readonly keys: Float32Array; readonly learningRate: number; readonly buffers: Float32Array | null; readonly gradients: readonly Float32Array[] | null }
  | { readonly type: 'export' }
  | { readonly type: 'import'; readonly state: ModelState }
  | { readonly type: 'embed'; readonly pixels: Float32Array; readonly count: number; readonly imageSize: number; readonly representation: Representation }
  | { readonly type: 'heap' }
  /** Loads the backend without a model and says what it runs on (the trainer's backend choice). */
  | { readonly type: 'probe'; readonly backend: ReplicaSetup['backend'] }
  | { readonly type: 'dispose' };

export interface InitReply {
  readonly parameterCount: number;
  readonly bufferCount: number;
  readonly dim: number;
  /** The replica's WebGPU adapter, where it runs on one (a compute page). */
  readonly adapter?: ReplicaAdapter;
}
export interface KeysReply { readonly keys: Float32Array; readonly phases: PhaseTimes }
export interface GradientsReply {
  readonly partial: MetricPartial;
  /** BatchNorm running statistics after this step's slice: query encoder's, then key encoder's. */
  readonly buffers: Float32Array;
  /** Set only when setup.gradients is null. */
  readonly gradients: Float32Array | null;
  readonly phases: PhaseTimes;
}
export interface ApplyReply { readonly phases: PhaseTimes }
export interface EmbedReply { readonly values: Float32Array; readonly dim: number }
export interface HeapReply { readonly bytes: number | null }
export interface ProbeReply { readonly backend: string; readonly adapter?: ReplicaAdapter }

/**
 * A request/reply channel to one replica (worker_threads: main/trainer/worker-channel.ts; any
 * message port or socket: replica-transport.ts).
 */
export interface ReplicaChannel {
  /** `transfer`: buffers of the request handed over (the caller must not use them after). */
  request<R extends ReplicaReply>(request: ReplicaRequest, transfer?: readonly ArrayBuffer[]): Promise<R>;
  close(): Promise<void>;
}

/** Typed arrays in a reply that can be transferred rather than copied. */
export function transferables(value: unknown): ArrayBuffer[] {
  const found: ArrayBuffer[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (depth > 4 || v === null || typeof v !== 'object') return;
    if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer && !found.includes(v.buffer)) found.push(v.buffer);
      return;
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) visit(x, depth + 1);
  };
  visit(value, 0);
  return found;
}
