/**
 * One replica of the model for a data-parallel host: both encoders, the queue and the SGD
 * buffers, answering compute-protocol.ts requests. Transport-agnostic (the worker_threads entry
 * is compute-worker.ts); every replica starts from the same seed and applies the same summed
 * gradients, so all replicas hold the same weights after every step.
 *
 * A replica of a pool of W holds N/W images of each batch and G/W of the G Split-BN groups
 * (batch-norm.ts), so no BatchNorm group straddles two replicas: each group's statistics are
 * exactly the single-replica ones. Running statistics are averaged over replicas by the
 * coordinator, which is the single-replica update (the mean over groups) regrouped.
 *
 * Every read is `await data()` (issue 8): a replica may run on webgpu (a browser page, the
 * desktop app's hidden renderer), where a synchronous read stalls the GPU or throws in Node.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapF32, offsetF32, type WasmBackend } from './wasm-kernels/kernel-utils.js';
import { embedPixels } from './batches.js';
import type { ApplyReply, EmbedReply, GradientsReply, HeapReply, InitReply, KeysReply, ProbeReply, ReplicaRequest, ReplicaSetup } from './compute-protocol.js';
import { disposeQueryGradients, Moco, type PhaseTimes } from './moco.js';
import { SgdMomentum } from './optimizer.js';
import { metricPartial } from './step-metrics.js';
import { exportModelState, importModelState, type ModelState } from './training-state.js';

export type ReplicaReply = InitReply | KeysReply | GradientsReply | ApplyReply | EmbedReply | HeapReply | ProbeReply | ModelState | Record<string, never>;

function lapper(phases: PhaseTimes): (name: string) => void {
  let last = performance.now();
  return (name) => {
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + (now - last);
    last = now;
  };
}

/** Wasm heap of the current backend (null on other backends). */
export function currentHeapBytes(): number | null {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.length ?? null;
}

/** A replica's share of the model config: N/W images and G/W BatchNorm groups. */
export function replicaShare(setup: Pick<ReplicaSetup, 'moco' | 'batchSize' | 'replicas'>): { moco: ReplicaSetup['moco']; batchSize: number } {
  const { moco, batchSize, replicas } = setup;
  const groups = moco.encoder.bnSplits;
  if (!Number.isInteger(replicas) || replicas < 1 || groups % replicas !== 0 || batchSize % replicas !== 0) {
    throw new Error(`workers: ${replicas} must divide the ${groups} BatchNorm groups (bnSplits) and the batch size ${batchSize}, so that no BatchNorm group straddles two workers`);
  }
  return { moco: { ...moco, encoder: { ...moco.encoder, bnSplits: groups / replicas } }, batchSize: batchSize / replicas };
}

export class ComputeReplica {
  private moco: Moco | null = null;
  private optimizer: SgdMomentum | null = null;
  private setup: ReplicaSetup | null = null;
  private parameterCount = 0;

  async handle(request: ReplicaRequest): Promise<ReplicaReply> {
    switch (request.type) {
      case 'init': return this.init(request.setup);
      case 'keys': return this.keys(request.pixels, request.count, request.imageSize);
      case 'gradients': return this.gradients(request);
      case 'apply': return this.apply(request);
      case 'export': return exportModelState(this.model(), this.sgd());
      case 'import': importModelState(this.model(), this.sgd(), request.state); return {};
      case 'embed': return this.embed(request);
      case 'heap': return { bytes: currentHeapBytes() };
      case 'probe': return { backend: tf.getBackend() };
      case 'dispose': this.dispose(); return {};
    }
  }

  dispose(): void {
    this.moco?.dispose();
    this.optimizer?.dispose();
    this.moco = null;
    this.optimizer = null;
  }

  private async init(setup: ReplicaSetup): Promise<InitReply> {
    this.dispose();
    const share = replicaShare(setup);
    this.setup = setup;
    this.moco = new Moco(share.moco, share.batchSize, setup.seed);
    this.optimizer = new SgdMomentum(setup.sgd);
    this.parameterCount = this.moco.queryEncoder.variables.parameterCount();
    return { parameterCount: this.parameterCount, bufferCount: (await this.buffers()).length, dim: setup.moco.encoder.dim };
  }

  private async keys(pixels: Float32Array, count: number, imageSize: number): Promise<KeysReply> {
    const moco = this.model();
    const phases: PhaseTimes = {};
    const lap = lapper(phases);
    moco.momentumUpdateKeyEncoder();
    lap('momentumUpdate');
    const keys = tf.tidy(() => moco.keyForward(tf.tensor4d(pixels, [count, imageSize, imageSize, 3])));
    const values = Float32Array.from(await keys.data().finally(() => { keys.dispose(); }));
    lap('keyForward');
    return { keys: values, phases };
  }

  private async gradients(request: Extract<ReplicaRequest, { type: 'gradients' }>): Promise<GradientsReply> {
    const moco = this.model();
    const setup = this.setup!;
    const { count, imageSize } = request;
    const phases: PhaseTimes = {};
    const lap = lapper(phases);
    const xq = tf.tensor4d(request.pixels, [count, imageSize, imageSize, 3]);
    const positives = tf.tensor2d(request.positiveKeys, [count, setup.moco.encoder.dim]);
    const pass = moco.queryGradients(xq, positives, request.lossScale);
    xq.dispose();
    positives.dispose();
    lap('queryForwardBackward');
    try {
      const [loss, logits, queries] = await Promise.all([pass.loss.data(), pass.logits.data(), pass.queries.data()]);
      const partial = metricPartial(loss[0]!, logits, pass.logits.shape[1], Float32Array.from(queries), pass.queries.shape[1]);
      lap('metrics');
      const flat = setup.gradients ? new Float32Array(setup.gradients, setup.index * this.parameterCount * 4, this.parameterCount) : new Float32Array(this.parameterCount);
      const names = [...moco.queryEncoder.variables.parameters.keys()];
      await writeGradients(names.map((name) => pass.gradients[name]!), flat);
      lap('gradientWrite');
      return { partial, buffers: await this.buffers(), gradients: setup.gradients ? null : flat, phases };
    } finally {
      disposeQueryGradients(pass);
    }
  }

  private apply(request: Extract<ReplicaRequest, { type: 'apply' }>): ApplyReply {
    const moco = this.model();
    const setup = this.setup!;
    const phases: PhaseTimes = {};
    const lap = lapper(phases);
    const P = this.parameterCount;
    const regions = request.gradients ?? Array.from({ length: setup.replicas }, (_, r) => new Float32Array(setup.gradients!, r * P * 4, P));
    if (request.buffers) this.setBuffers(request.buffers);
    tf.tidy(() => {
      // Summed in replica order on every replica, in the backend (a JavaScript loop over shared
      // memory ran at ~50 ns a float): the same floats everywhere, so the replicas stay identical.
      const gradients: Record<string, tf.Tensor> = {};
      let offset = 0;
      for (const [name, v] of moco.queryEncoder.variables.parameters) {
        const parts = regions.map((region) => tf.tensor(region.subarray(offset, offset + v.size), v.shape));
        gradients[name] = parts.reduce((sum, part) => tf.add(sum, part));
        offset += v.size;
      }
      lap('gradientSum');
      const keys = tf.tensor2d(request.keys, [request.keys.length / setup.moco.encoder.dim, setup.moco.encoder.dim]);
      moco.finishStep(keys, gradients, this.sgd(), request.learningRate);
    });
    lap('enqueueSgd');
    return { phases };
  }

  private async embed(request: Extract<ReplicaRequest, { type: 'embed' }>): Promise<EmbedReply> {
    const encoder = this.model().queryEncoder;
    const features = tf.tidy(() => embedPixels(encoder, tf.tensor4d(request.pixels, [request.count, request.imageSize, request.imageSize, 3]), request.representation));
    const dim = features.shape[1];
    return { values: Float32Array.from(await features.data().finally(() => { features.dispose(); })), dim };
  }

  /** Every BatchNorm running statistic, query encoder then key encoder, concatenated. */
  private async buffers(): Promise<Float32Array> {
    const moco = this.model();
    const all = [...moco.queryEncoder.variables.buffers.values(), ...moco.keyEncoder.variables.buffers.values()];
    const out = new Float32Array(all.reduce((n, v) => n + v.size, 0));
    const values = await Promise.all(all.map((v) => v.data()));
    let offset = 0;
    for (const v of values) {
      out.set(v, offset);
      offset += v.length;
    }
    return out;
  }

  private setBuffers(values: Float32Array): void {
    const moco = this.model();
    let offset = 0;
    tf.tidy(() => {
      for (const v of [...moco.queryEncoder.variables.buffers.values(), ...moco.keyEncoder.variables.buffers.values()]) {
        v.assign(tf.tensor(values.subarray(offset, offset + v.size), v.shape));
        offset += v.size;
      }
    });
  }

  private model(): Moco {
    if (!this.moco) throw new Error('compute replica: not initialised (send init first)');
    return this.moco;
  }

  private sgd(): SgdMomentum {
    if (!this.optimizer) throw new Error('compute replica: not initialised (send init first)');
    return this.optimizer;
  }
}

/**
 * Writes the gradients one after another into `flat`. On wasm they are copied straight out of
 * the backend's heap: `data()` first copies each into a new array (45 MB a step at full width),
 * and the gradient write took 148-194 ms of a W=2 step (`npm run bench -- --quick`, issue 9).
 */
async function writeGradients(gradients: readonly tf.Tensor[], flat: Float32Array): Promise<void> {
  let offset = 0;
  const backend = tf.getBackend() === 'wasm' ? tf.backend() as unknown as WasmBackend : null;
  if (backend !== null && gradients.every((g) => g.dtype === 'float32' && backend.dataIdMap.has(g.dataId))) {
    const heap = heapF32(backend); // nothing below allocates, so the view stays valid
    for (const g of gradients) {
      const at = offsetF32(backend, g);
      flat.set(heap.subarray(at, at + g.size), offset);
      offset += g.size;
    }
    return;
  }
  for (const g of await Promise.all(gradients.map((t) => t.data()))) {
    flat.set(g, offset);
    offset += g.length;
  }
}
