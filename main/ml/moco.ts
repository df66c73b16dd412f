/**
 * MoCo: Momentum Contrast (He et al., CVPR 2020; v2: Chen et al. 2020).
 *
 * Reads like the reference builder: a query encoder f_q trained by SGD, a key encoder f_k that
 * follows it by momentum, a queue of K past keys as negatives, InfoNCE over [N, 1+K] logits.
 * Hyperparameters carry the paper's symbols:
 *   K  queueSize     number of negative keys (65536 ImageNet, 4096 CIFAR demo)
 *   m  keyMomentum   momentum of the key encoder (0.999; 0.99 CIFAR demo)
 *   T  temperature   softmax temperature (0.07 v1; 0.2 v2; 0.1 CIFAR demo)
 *   C  dim           embedding dimension (128)
 *
 * One step (trainStep), with N = batch size:
 *   1. momentum update   theta_k <- m theta_k + (1 - m) theta_q        (no gradient)
 *   2. keys              k = normalize(f_k(x_k)) with Shuffle BN       [N, C], constant
 *   3. queries           q = normalize(f_q(x_q))                        [N, C]
 *   4. logits            [q.k, q @ queue] / T                           [N, 1+K], label 0
 *   5. loss              cross-entropy (InfoNCE); gradients for f_q only
 *   6. enqueue           queue[:, ptr:ptr+N] = k^T; ptr = (ptr + N) % K
 *   7. SGD step on f_q   (done after the enqueue, as the reference's optimizer.step() follows forward())
 */
import * as tf from '@tensorflow/tfjs-core';
import { effectiveSplits } from './batch-norm.js';
import { fusedKernels, MOMENTUM_AVERAGE, tryFused } from './fused-kernels.js';
import { Encoder, type EncoderConfig } from './resnet.js';
import { Rng, type RngState } from './rng.js';
import type { SgdMomentum } from './optimizer.js';
import { combineMetrics, metricPartial } from './step-metrics.js';
import { contrastiveLogits, infoNceLoss, l2Normalize } from './contrastive-loss.js';

export interface MocoConfig {
  readonly encoder: EncoderConfig;
  /** K: queue size (number of negatives). Must be a multiple of the batch size. */
  readonly queueSize: number;
  /** m: key-encoder momentum. */
  readonly keyMomentum: number;
  /** T: softmax temperature. */
  readonly temperature: number;
  /** Shuffle BN for keys (on by default; off only to reproduce the paper's ablation). */
  readonly shuffleKeys: boolean;
}

/** The reference's published settings; image-size-dependent choices are made by the caller. */
export const MOCO_PRESETS = {
  /** MoCo v1, ImageNet: ResNet-50, fc head, K=65536, m=0.999, T=0.07. */
  v1: { queueSize: 65536, keyMomentum: 0.999, temperature: 0.07, head: 'linear' },
  /** MoCo v2, ImageNet: MLP head, T=0.2, aug-plus, cosine schedule. */
  v2: { queueSize: 65536, keyMomentum: 0.999, temperature: 0.2, head: 'mlp' },
  /** Single-GPU CIFAR-10 demo: ResNet-18 small stem, K=4096, m=0.99, T=0.1. */
  cifar: { queueSize: 4096, keyMomentum: 0.99, temperature: 0.1, head: 'linear' },
} as const;

export interface StepMetrics {
  readonly loss: number;
  /** Instance-discrimination top-1: the positive ranks first among 1+K candidates. */
  readonly top1: number;
  readonly top5: number;
  /** Mean cosine similarity q.k of positives and of q against the queue (before / T). */
  readonly positiveLogit: number;
  readonly negativeLogit: number;
  /** Mean over dimensions of the std over the batch of q (~1/sqrt(C) healthy, ~0 collapsed). */
  readonly embeddingStd: number;
  /** Fraction of the queue holding real keys rather than its random initialisation. */
  readonly queueFill: number;
  readonly learningRate: number;
}

/** Milliseconds per phase of a step, accumulated when passed to trainStep (benchmarks). */
export type PhaseTimes = Record<string, number>;

/**
 * The wasm and cpu backends run kernels synchronously, so wall-clock laps are exact there; on
 * tfjs-node-gpu they measure dispatch unless the caller synchronises.
 */
function phaseTimer(phases: PhaseTimes | undefined): (name: string) => void {
  if (!phases) return () => undefined;
  let last = performance.now();
  return (name) => {
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + (now - last);
    last = now;
  };
}

/** What queryGradients returns; every tensor is the caller's (disposeQueryGradients). */
export interface QueryGradients {
  readonly loss: tf.Scalar;
  /** d loss / d theta_q by our parameter names. */
  readonly gradients: Readonly<Record<string, tf.Tensor>>;
  readonly logits: tf.Tensor2D; // [n, 1+K]
  readonly queries: tf.Tensor2D; // [n, C]
}

export function disposeQueryGradients(pass: QueryGradients): void {
  pass.loss.dispose();
  pass.logits.dispose();
  pass.queries.dispose();
  for (const g of Object.values(pass.gradients)) g.dispose();
}

export interface MocoState {
  readonly queuePointer: number;
  readonly keysEnqueued: number;
  readonly shuffleRng: RngState;
}

export function validateMocoConfig(config: MocoConfig, batchSize: number): void {
  const { queueSize: K, keyMomentum: m, temperature: T } = config;
  if (!Number.isInteger(batchSize) || batchSize < 2) throw new Error(`batchSize: must be an integer >= 2, got ${batchSize}`);
  if (!Number.isInteger(K) || K < batchSize) throw new Error(`queueSize (K): must be an integer >= the batch size ${batchSize}, got ${K}`);
  if (K % batchSize !== 0) {
    throw new Error(`queueSize (K) must be a multiple of the batch size so that the FIFO enqueue never wraps mid-batch: K=${K}, batch=${batchSize} (try K=${Math.max(1, Math.round(K / batchSize)) * batchSize})`);
  }
  if (!(m >= 0 && m < 1)) throw new Error(`keyMomentum (m): must be in [0, 1), got ${m}`);
  if (!(T > 0) || !Number.isFinite(T)) throw new Error(`temperature (T): must be > 0, got ${T}`);
}

/** Inverse of a permutation (argsort of idx_shuffle in the reference). */
export function inversePermutation(permutation: Int32Array): Int32Array {
  const inverse = new Int32Array(permutation.length);
  for (let i = 0; i < permutation.length; i++) inverse[permutation[i]!] = i;
  return inverse;
}

/** The Shuffle BN permutations' RNG of a run (a data-parallel coordinator draws them itself). */
export function shuffleRngFor(seed: number): Rng {
  return new Rng(seed ^ 0x5bf1e);
}

export class Moco {
  readonly queryEncoder: Encoder;
  readonly keyEncoder: Encoder;
  /** The queue of keys, [C, K]; column j is a past key, L2-normalised. */
  readonly queue: tf.Variable;
  private queuePointer = 0;
  private keysEnqueued = 0;
  private readonly shuffleRng: Rng;

  constructor(readonly config: MocoConfig, readonly batchSize: number, seed: number) {
    validateMocoConfig(config, batchSize);
    const dim = config.encoder.dim;
    if (effectiveSplits(batchSize, config.encoder.bnSplits) !== config.encoder.bnSplits) {
      throw new Error(`bnSplits: ${config.encoder.bnSplits} does not divide the batch size ${batchSize}; choose a divisor`);
    }
    this.queryEncoder = Encoder.create(config.encoder, seed);
    // f_k starts as an exact copy of f_q (param_k.data.copy_(param_q.data)) and is never trained by SGD.
    this.keyEncoder = this.queryEncoder.cloneFrozen();
    const initRng = new Rng(seed ^ 0x5eed);
    this.shuffleRng = shuffleRngFor(seed);
    this.queue = tf.tidy(() => {
      const values = new Float32Array(dim * config.queueSize);
      for (let i = 0; i < values.length; i++) values[i] = initRng.normal();
      const raw = tf.tensor2d(values, [dim, config.queueSize]);
      // The queue starts as random normal vectors, each column L2-normalised (dim=0 in the reference).
      return tf.variable(tf.div(raw, tf.norm(raw, 'euclidean', 0, true)), false);
    });
  }

  /** theta_k <- m * theta_k + (1 - m) * theta_q, parameter by parameter; BN buffers stay f_k's own. */
  momentumUpdateKeyEncoder(): void {
    const m = this.config.keyMomentum;
    tf.tidy(() => {
      for (const [name, thetaK] of this.keyEncoder.variables.parameters) {
        const thetaQ = this.queryEncoder.variables.parameter(name);
        // One fused kernel where the backend has it (fused-kernels.ts): the same float32 values as the ops.
        const fused = thetaK.size > 0 && thetaK.size % 4 === 0 && fusedKernels(MOMENTUM_AVERAGE)
          ? tryFused(() => tf.engine().runKernel<tf.Tensor>(MOMENTUM_AVERAGE, { a: thetaK, b: thetaQ }, { momentum: m }))
          : undefined;
        thetaK.assign(fused ?? tf.add(tf.mul(thetaK, m), tf.mul(thetaQ, 1 - m)));
      }
    });
  }

  /** k = normalize(f_k(x_k)) with Shuffle BN; returns [N, C]. Caller owns the result. */
  encodeKeys(xk: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      if (!this.config.shuffleKeys) return this.keyForward(xk);
      // Shuffle BN: permute the batch so each BN group sees different images than the queries' groups.
      const idxShuffle = this.nextShufflePermutation(xk.shape[0]);
      const idxUnshuffle = inversePermutation(idxShuffle);
      const shuffled = tf.gather(xk, tf.tensor1d(idxShuffle, 'int32'));
      const k = this.keyForward(shuffled); // [N, C], shuffled order
      return tf.gather(k, tf.tensor1d(idxUnshuffle, 'int32')); // un-shuffled: k[i] matches q[i]
    });
  }

  /** queue[:, ptr:ptr+N] = k^T; ptr = (ptr + N) % K. */
  dequeueAndEnqueue(keys: tf.Tensor2D): void {
    const n = keys.shape[0];
    const K = this.config.queueSize;
    if (K % n !== 0) throw new Error(`queueSize (K)=${K} is not a multiple of this batch's size ${n}`);
    const ptr = this.queuePointer;
    tf.tidy(() => {
      const keysT = tf.transpose(keys); // [C, N]
      const parts: tf.Tensor2D[] = [];
      if (ptr > 0) parts.push(tf.slice(this.queue as tf.Tensor2D, [0, 0], [-1, ptr]));
      parts.push(keysT);
      if (ptr + n < K) parts.push(tf.slice(this.queue as tf.Tensor2D, [0, ptr + n], [-1, K - ptr - n]));
      this.queue.assign(parts.length === 1 ? keysT : tf.concat(parts, 1));
    });
    this.queuePointer = (ptr + n) % K;
    this.keysEnqueued = Math.min(K, this.keysEnqueued + n);
  }

  /**
   * k = normalize(f_k(x_k)) of a batch already in the order its BN groups should see (Shuffle BN
   * permutes before, un-permutes after: encodeKeys here, the coordinator of a data-parallel host
   * across replicas). Returns [n, C]; caller owns it.
   */
  keyForward(xk: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.keyEncoder.apply(xk, 'train')));
  }

  /** The next Shuffle BN permutation (idx_shuffle), from the run's shuffle RNG. */
  nextShufflePermutation(n: number): Int32Array {
    return this.shuffleRng.permutation(n);
  }

  /** Fraction of the queue holding real keys (before this step's enqueue). */
  get queueFill(): number {
    return this.keysEnqueued / this.config.queueSize;
  }

  /**
   * Queries of a slice of the batch, their logits against their own positive keys and the whole
   * queue, the InfoNCE loss and the gradients of f_q. A slice's rows need nothing of the other
   * slices (each query's logits are its positive and the queue), so replicas holding slices of
   * the batch compute this independently; `lossScale` = slice rows / batch rows makes the
   * gradients of all slices add up to the batch-mean gradient.
   * xq: [n, S, S, 3]; positiveKeys: [n, C], constant. Caller disposes the returned tensors.
   */
  queryGradients(xq: tf.Tensor4D, positiveKeys: tf.Tensor2D, lossScale = 1): QueryGradients {
    const parameters = this.queryEncoder.variables.parameters;
    let logitsKept: tf.Tensor2D | undefined;
    let queriesKept: tf.Tensor2D | undefined;
    const { value: loss, grads } = tf.variableGrads(() => {
      const q = l2Normalize(this.queryEncoder.apply(xq, 'train')); // [n, C]
      const logits = contrastiveLogits(q, positiveKeys, this.queue as tf.Tensor2D, this.config.temperature); // [n, 1+K]
      logitsKept = tf.keep(logits);
      queriesKept = tf.keep(q);
      return infoNceLoss(logits, lossScale);
    }, [...parameters.values()]);
    // variableGrads keys gradients by the engine's variable names; the optimiser uses ours.
    const gradients: Record<string, tf.Tensor> = {};
    for (const [name, variable] of parameters) gradients[name] = grads[variable.name]!;
    return { loss, gradients, logits: logitsKept!, queries: queriesKept! };
  }

  /** The end of a step: enqueue the whole batch's keys [N, C], then one SGD step with the batch's gradients. */
  finishStep(keys: tf.Tensor2D, gradients: Readonly<Record<string, tf.Tensor>>, optimizer: SgdMomentum, learningRate: number): void {
    this.dequeueAndEnqueue(keys);
    optimizer.apply(this.queryEncoder.variables.parameters, gradients, learningRate);
  }

  /**
   * One full MoCo training step; returns the step's metrics. Leaves no tensors behind.
   * Asynchronous because its metrics are read with `await data()`: the only read a GPU tensor
   * allows in Node (dataSync throws on webgpu, issue 8); on wasm it resolves at once.
   */
  async trainStep(xq: tf.Tensor4D, xk: tf.Tensor4D, optimizer: SgdMomentum, learningRate: number, phases?: PhaseTimes): Promise<StepMetrics> {
    const lap = phaseTimer(phases);
    if (xq.shape[0] !== this.batchSize || xk.shape[0] !== this.batchSize) {
      throw new Error(`trainStep: expected batches of ${this.batchSize}, got ${xq.shape[0]} queries and ${xk.shape[0]} keys (drop the last partial batch)`);
    }
    const queueFill = this.queueFill;
    this.momentumUpdateKeyEncoder();
    lap('momentumUpdate');
    const keys = this.encodeKeys(xk); // [N, C], treated as constant: computed outside the gradient tape
    lap('keyForward');
    const pass = this.queryGradients(xq, keys);
    lap('queryForwardBackward');
    const metrics = await this.readMetrics(pass.loss, pass.logits, pass.queries, queueFill, learningRate);
    lap('metrics');
    this.dequeueAndEnqueue(keys);
    lap('enqueue');
    optimizer.apply(this.queryEncoder.variables.parameters, pass.gradients, learningRate);
    lap('sgd');
    keys.dispose();
    disposeQueryGradients(pass);
    return metrics;
  }

  getState(): MocoState {
    return { queuePointer: this.queuePointer, keysEnqueued: this.keysEnqueued, shuffleRng: this.shuffleRng.getState() };
  }

  setState(state: MocoState): void {
    const K = this.config.queueSize;
    if (!Number.isInteger(state.queuePointer) || state.queuePointer < 0 || state.queuePointer >= K || state.queuePointer % this.batchSize !== 0) {
      throw new Error(`queuePointer: must be a multiple of the batch size in [0, ${K}), got ${state.queuePointer}`);
    }
    this.queuePointer = state.queuePointer;
    this.keysEnqueued = Math.max(0, Math.min(K, state.keysEnqueued));
    this.shuffleRng.setState(state.shuffleRng);
  }

  dispose(): void {
    this.queryEncoder.dispose();
    this.keyEncoder.dispose();
    this.queue.dispose();
  }

  /**
   * Metrics of a whole batch from one read of its logits [N, 1+K] and queries [N, C] (see
   * step-metrics.ts); `await data()`, the only read of a GPU tensor in Node (issue 8).
   */
  private async readMetrics(loss: tf.Scalar, logits: tf.Tensor2D, q: tf.Tensor2D, queueFill: number, learningRate: number): Promise<StepMetrics> {
    const [lossValue, logitValues, queryValues] = await Promise.all([loss.data(), logits.data(), q.data()]);
    const partial = metricPartial(lossValue[0]!, logitValues, logits.shape[1], queryValues as Float32Array, q.shape[1]);
    return combineMetrics([partial], this.config.temperature, queueFill, learningRate);
  }
}
