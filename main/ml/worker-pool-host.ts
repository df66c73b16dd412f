/**
 * Data-parallel MoCo over W replicas in worker_threads (issue 9): each replica has its own wasm
 * backend and takes N/W images of every batch (whole Split-BN groups); the gradients of the W
 * slices are summed through one SharedArrayBuffer before one SGD step on every replica.
 *
 * The coordinator (this class, in the trainer's thread) owns what must be the same for all:
 *   - the Shuffle BN permutation (drawn from the run's shuffle RNG, as Moco.encodeKeys does),
 *     applied to x_k before slicing, so the key BN groups are the single-replica groups spread
 *     over the replicas; it un-shuffles the gathered keys [N, C];
 *   - the queue contents, by sending all N keys to every replica's enqueue;
 *   - BatchNorm running statistics, averaged over replicas (= the mean over all groups);
 *   - the metrics, combined from per-slice partial sums (step-metrics.ts).
 * InfoNCE needs no exchange: query i's logits are its own positive key and the queue.
 * With fixed W a run is deterministic; W=1 is the in-process step exactly; W>1 differs only by
 * float summation order (test/main/ml/worker-pool.spec.ts states the tolerance).
 */
import type { ComputeHost, EmbeddingMatrix, StepBatch, StepOutcome } from './compute-host.js';
import type { ApplyReply, EmbedReply, GradientsReply, HeapReply, InitReply, KeysReply, ReplicaChannel, ReplicaSetup } from './compute-protocol.js';
import { replicaShare } from './compute-replica.js';
import type { Representation } from './batches.js';
import { inversePermutation, shuffleRngFor, validateMocoConfig, type MocoConfig, type PhaseTimes } from './moco.js';
import type { SgdConfig } from './optimizer.js';
import { parameterCount as encoderParameterCount } from './resnet.js';
import type { Rng } from './rng.js';
import { combineMetrics } from './step-metrics.js';
import type { ModelState } from './training-state.js';
import type { ReplicaAdapter } from '../../shared/compute-channel.js';

export interface WorkerPoolOptions {
  readonly moco: MocoConfig;
  readonly sgd: SgdConfig;
  readonly seed: number;
  readonly batchSize: number;
  readonly workers: number;
  readonly backend: ReplicaSetup['backend'];
  /** Opens the channel to replica `index` (worker_threads: main/trainer/worker-channel.ts). */
  readonly openChannel: (index: number) => ReplicaChannel;
  /**
   * false: the channels cross a process boundary (a renderer's MessagePort, a socket), so the
   * gradients travel in the gradients/apply messages instead of one SharedArrayBuffer. Default true.
   */
  readonly sharedMemory?: boolean;
  /** The host's kind (default 'worker-pool'; 'renderer' for the desktop app's WebGPU page). */
  readonly kind?: string;
}

/** Images per embed request to one replica (bounds each replica's activation memory). */
const EMBED_CHUNK = 64;

function merge(into: PhaseTimes, from: PhaseTimes): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export class WorkerPoolHost implements ComputeHost {
  readonly kind: string;
  private readonly shuffleRng: Rng;
  private keysEnqueued = 0;
  private disposed = false;

  private constructor(
    private readonly options: WorkerPoolOptions,
    private readonly channels: readonly ReplicaChannel[],
    private readonly dim: number,
    /** Replica 0's WebGPU adapter (a compute page), else null. */
    readonly adapter: ReplicaAdapter | null = null,
  ) {
    this.shuffleRng = shuffleRngFor(options.seed);
    this.kind = options.kind ?? 'worker-pool';
  }

  get replicas(): number {
    return this.channels.length;
  }

  /** Starts W workers, each initialised with the seed's model (identical everywhere). */
  static async create(options: WorkerPoolOptions): Promise<WorkerPoolHost> {
    validateMocoConfig(options.moco, options.batchSize);
    const W = options.workers;
    replicaShare({ moco: options.moco, batchSize: options.batchSize, replicas: W }); // throws a clear error on a bad W
    const channels: ReplicaChannel[] = [];
    try {
      for (let i = 0; i < W; i++) channels.push(options.openChannel(i));
      const parameterCount = encoderParameterCount(options.moco.encoder);
      const gradients = options.sharedMemory === false ? null : new SharedArrayBuffer(W * parameterCount * 4);
      const replies = await Promise.all(channels.map((c, index) => {
        const setup: ReplicaSetup = { moco: options.moco, sgd: options.sgd, seed: options.seed, batchSize: options.batchSize, replicas: W, index, gradients, backend: options.backend };
        return c.request<InitReply>({ type: 'init', setup });
      }));
      if (replies.some((r) => r.parameterCount !== parameterCount)) throw new Error('compute workers disagree on the parameter count');
      return new WorkerPoolHost(options, channels, options.moco.encoder.dim, replies[0]?.adapter ?? null);
    } catch (error) {
      await Promise.all(channels.map((c) => c.close()));
      throw error;
    }
  }

  async step(batch: StepBatch, learningRate: number): Promise<StepOutcome> {
    const { count: N, imageSize: S } = batch;
    if (N !== this.options.batchSize) throw new Error(`step: expected a batch of ${this.options.batchSize}, got ${N} (drop the last partial batch)`);
    const W = this.replicas;
    const n = N / W;
    const per = S * S * 3;
    const C = this.dim;
    const K = this.options.moco.queueSize;
    const queueFill = this.keysEnqueued / K;
    const phases: PhaseTimes[] = Array.from({ length: W }, () => ({}));

    // Keys: Shuffle BN permutation over the whole batch, then whole groups to each replica.
    const idxShuffle = this.options.moco.shuffleKeys ? this.shuffleRng.permutation(N) : Int32Array.from({ length: N }, (_, i) => i);
    const keyReplies = await Promise.all(this.channels.map((c, r) => {
      const pixels = new Float32Array(n * per);
      for (let i = 0; i < n; i++) pixels.set(batch.keyPixels.subarray(idxShuffle[r * n + i]! * per, (idxShuffle[r * n + i]! + 1) * per), i * per);
      return c.request<KeysReply>({ type: 'keys', pixels, count: n, imageSize: S }, [pixels.buffer]);
    }));
    const idxUnshuffle = inversePermutation(idxShuffle);
    const keys = new Float32Array(N * C); // k[i] = shuffled keys[idxUnshuffle[i]]: k[i] matches q[i]
    for (let i = 0; i < N; i++) {
      const j = idxUnshuffle[i]!;
      keys.set(keyReplies[Math.floor(j / n)]!.keys.subarray((j % n) * C, (j % n + 1) * C), i * C);
    }
    keyReplies.forEach((reply, r) => { merge(phases[r]!, reply.phases); });

    // Queries: each replica its own slice, its positives, the replicated queue.
    const gradReplies = await Promise.all(this.channels.map((c, r) => {
      const pixels = batch.queryPixels.slice(r * n * per, (r + 1) * n * per);
      const positiveKeys = keys.slice(r * n * C, (r + 1) * n * C);
      return c.request<GradientsReply>({ type: 'gradients', pixels, count: n, imageSize: S, positiveKeys, lossScale: n / N }, [pixels.buffer, positiveKeys.buffer]);
    }));
    gradReplies.forEach((reply, r) => { merge(phases[r]!, reply.phases); });
    const metrics = combineMetrics(gradReplies.map((g) => g.partial), this.options.moco.temperature, queueFill, learningRate);

    // Running statistics: the mean over replicas of each replica's update (W=1: its own, unchanged).
    let buffers: Float32Array | null = null;
    if (W > 1) {
      buffers = new Float32Array(gradReplies[0]!.buffers.length);
      for (const g of gradReplies) for (let i = 0; i < buffers.length; i++) buffers[i]! += g.buffers[i]!;
      for (let i = 0; i < buffers.length; i++) buffers[i]! /= W;
    }
    // Without shared memory every replica gets every slice's gradients (W=1: its own back).
    const gradients = this.options.sharedMemory === false ? gradReplies.map((g, r) => {
      if (!g.gradients) throw new Error(`compute replica ${r} sent no gradients`);
      return g.gradients;
    }) : null;
    const applyReplies = await Promise.all(this.channels.map((c) => c.request<ApplyReply>({ type: 'apply', keys, learningRate, buffers, gradients })));
    applyReplies.forEach((reply, r) => { merge(phases[r]!, reply.phases); });
    this.keysEnqueued = Math.min(K, this.keysEnqueued + N);
    return { metrics, phasesByReplica: phases };
  }

  async exportState(): Promise<ModelState> {
    // Every replica holds the same weights; replica 0 speaks for all, the coordinator for the shuffle RNG.
    const state = await this.channels[0]!.request<ModelState>({ type: 'export' });
    return { tensors: state.tensors, moco: { ...state.moco, shuffleRng: this.shuffleRng.getState() } };
  }

  async importState(state: ModelState): Promise<void> {
    await Promise.all(this.channels.map((c) => c.request({ type: 'import', state })));
    this.shuffleRng.setState(state.moco.shuffleRng);
    this.keysEnqueued = Math.max(0, Math.min(this.options.moco.queueSize, state.moco.keysEnqueued));
  }

  async embed(pixels: Float32Array, count: number, imageSize: number, representation: Representation = 'backbone'): Promise<EmbeddingMatrix> {
    const per = imageSize * imageSize * 3;
    const chunks: { start: number; end: number }[] = [];
    for (let start = 0; start < count; start += EMBED_CHUNK) chunks.push({ start, end: Math.min(count, start + EMBED_CHUNK) });
    if (chunks.length === 0) throw new Error('embed: no images');
    // Chunk c goes to replica c % W; each replica answers its requests in order.
    const replies = await Promise.all(chunks.map(({ start, end }, c) => {
      const slice = pixels.slice(start * per, end * per);
      return this.channels[c % this.replicas]!.request<EmbedReply>({ type: 'embed', pixels: slice, count: end - start, imageSize, representation }, [slice.buffer]);
    }));
    const dim = replies[0]!.dim;
    const values = new Float32Array(count * dim);
    replies.forEach((r, c) => { values.set(r.values, chunks[c]!.start * dim); });
    return { values, dim };
  }

  async heapBytes(): Promise<readonly (number | null)[]> {
    return (await Promise.all(this.channels.map((c) => c.request<HeapReply>({ type: 'heap' })))).map((r) => r.bytes);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.channels.map((c) => c.close()));
  }
}
