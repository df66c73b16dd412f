/**
 * The compute host that runs the MoCo step in this thread (one replica): the trainer's own
 * Moco and optimiser, stepped exactly as before the host interface existed (Moco.trainStep).
 * It does not own them: the MocoTrainer that made them disposes them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { embedPixels, type Representation } from './batches.js';
import type { ComputeHost, EmbeddingMatrix, StepBatch, StepOutcome } from './compute-host.js';
import { currentHeapBytes } from './compute-replica.js';
import type { Moco, PhaseTimes } from './moco.js';
import type { SgdMomentum } from './optimizer.js';
import { exportModelState, importModelState, type ModelState } from './training-state.js';

/** Images embedded per forward pass (bounds activation memory). */
const EMBED_CHUNK = 64;

export class InProcessHost implements ComputeHost {
  readonly kind = 'in-process';
  readonly replicas = 1;

  constructor(private readonly moco: Moco, private readonly optimizer: SgdMomentum) {}

  async step(batch: StepBatch, learningRate: number, options: { readonly timePhases?: boolean } = {}): Promise<StepOutcome> {
    const { count: n, imageSize: s } = batch;
    const phases: PhaseTimes | undefined = options.timePhases ? {} : undefined;
    const xq = tf.tensor4d(batch.queryPixels, [n, s, s, 3]);
    const xk = tf.tensor4d(batch.keyPixels, [n, s, s, 3]);
    try {
      const metrics = await this.moco.trainStep(xq, xk, this.optimizer, learningRate, phases);
      return phases ? { metrics, phasesByReplica: [phases] } : { metrics };
    } finally {
      xq.dispose();
      xk.dispose();
    }
  }

  exportState(): Promise<ModelState> {
    return exportModelState(this.moco, this.optimizer);
  }

  importState(state: ModelState): Promise<void> {
    importModelState(this.moco, this.optimizer, state);
    return Promise.resolve();
  }

  /** Reads with `await data()`, the only read of a GPU tensor in Node (issue 8: webgpu runs in this host). */
  async embed(pixels: Float32Array, count: number, imageSize: number, representation: Representation = 'backbone'): Promise<EmbeddingMatrix> {
    const per = imageSize * imageSize * 3;
    let values: Float32Array | null = null;
    let dim = 0;
    for (let start = 0; start < count; start += EMBED_CHUNK) {
      const end = Math.min(count, start + EMBED_CHUNK);
      const part = tf.tidy(() => embedPixels(this.moco.queryEncoder, tf.tensor4d(pixels.subarray(start * per, end * per), [end - start, imageSize, imageSize, 3]), representation));
      dim = part.shape[1];
      values ??= new Float32Array(count * dim);
      values.set(await part.data().finally(() => { part.dispose(); }), start * dim);
    }
    if (!values) throw new Error('embed: no images');
    return { values, dim };
  }

  heapBytes(): Promise<readonly (number | null)[]> {
    return Promise.resolve([currentHeapBytes()]);
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}
