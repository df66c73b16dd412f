/**
 * Everything needed to continue a run exactly where it stopped, as named tensors plus plain
 * data: both encoders (parameters and BatchNorm buffers), the queue, the optimiser's momentum
 * buffers, the queue pointer, every RNG state, epoch and step. The file format lives in
 * main/trainer/checkpoint.ts; this module only maps a MocoTrainer to and from that content.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Moco, MocoState } from './moco.js';
import type { SgdMomentum } from './optimizer.js';
import type { RngState } from './rng.js';
import type { MocoTrainer } from './trainer.js';

export interface TrainingStateMeta {
  readonly epoch: number;
  readonly globalStep: number;
  readonly stepInEpoch: number;
  /** The current epoch's image order (null between epochs). */
  readonly epochOrder: readonly number[] | null;
  readonly moco: MocoState;
  readonly dataRng: RngState;
}

export interface NamedTensorData {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface TrainingState {
  readonly meta: TrainingStateMeta;
  readonly tensors: readonly NamedTensorData[];
}

/**
 * The compute side of a training state: every tensor plus the MoCo bookkeeping (queue pointer,
 * Shuffle BN RNG). What a compute host (compute-host.ts) exports and imports; the trainer adds
 * the data side (epoch, order, data RNG) to make a TrainingState.
 */
export interface ModelState {
  readonly tensors: readonly NamedTensorData[];
  readonly moco: MocoState;
}

function variablesOf(moco: Moco, optimizer: SgdMomentum): Map<string, tf.Variable> {
  const all = new Map<string, tf.Variable>();
  const { queryEncoder, keyEncoder, queue } = moco;
  for (const [n, v] of queryEncoder.variables.parameters) all.set(`query/${n}`, v);
  for (const [n, v] of queryEncoder.variables.buffers) all.set(`query/${n}`, v);
  for (const [n, v] of keyEncoder.variables.parameters) all.set(`key/${n}`, v);
  for (const [n, v] of keyEncoder.variables.buffers) all.set(`key/${n}`, v);
  all.set('queue', queue);
  for (const [n, v] of optimizer.velocity) all.set(`sgd/velocity/${n}`, v);
  return all;
}

/** Asynchronous: read with `await data()`, the only read of a GPU tensor in Node (issue 8). */
export async function exportModelState(moco: Moco, optimizer: SgdMomentum): Promise<ModelState> {
  // All reads at once: on a GPU each is a round trip (a compute page on SwiftShader: ~10 s one by one).
  const variables = [...variablesOf(moco, optimizer)];
  const values = await Promise.all(variables.map(([, v]) => v.data()));
  const tensors: NamedTensorData[] = variables.map(([name, v], i) => ({ name, shape: [...v.shape], values: Float32Array.from(values[i]!) }));
  return { tensors, moco: moco.getState() };
}

/**
 * Synchronous, for the wasm worker replicas (compute-replica.ts), whose replies are synchronous:
 * wasm tensors live in the heap and read at once. Hosts on a GPU backend use exportModelState.
 */
export function exportModelStateSync(moco: Moco, optimizer: SgdMomentum): ModelState {
  const tensors: NamedTensorData[] = [];
  for (const [name, v] of variablesOf(moco, optimizer)) {
    tensors.push({ name, shape: [...v.shape], values: Float32Array.from(v.dataSync()) });
  }
  return { tensors, moco: moco.getState() };
}

/** A trainer's data-side state joined with the model state of wherever its steps run. */
export function joinTrainingState(trainer: MocoTrainer, model: ModelState): TrainingState {
  const data = trainer.dataSideState(); // as of the last completed step, even with the next one augmented ahead
  return {
    meta: { epoch: trainer.epoch, globalStep: trainer.globalStep, stepInEpoch: data.stepInEpoch, epochOrder: data.epochOrder ? Array.from(data.epochOrder) : null, moco: model.moco, dataRng: data.dataRng },
    tensors: model.tensors,
  };
}

/** The whole state of a trainer whose model lives in this thread. */
export async function exportTrainingState(trainer: MocoTrainer): Promise<TrainingState> {
  return joinTrainingState(trainer, await exportModelState(trainer.moco, trainer.optimizer));
}

/**
 * Restores a state into a trainer built with the same configuration. Every tensor must match a
 * variable by name and shape (optimizer buffers are created when absent), or nothing is changed.
 */
export function importTrainingState(trainer: MocoTrainer, state: TrainingState): void {
  importModelState(trainer.moco, trainer.optimizer, { tensors: state.tensors, moco: state.meta.moco });
  importTrainerMeta(trainer, state);
}

/** The data side of a state (epoch, position, order, data RNG) into a trainer. */
export function importTrainerMeta(trainer: MocoTrainer, state: TrainingState): void {
  trainer.discardPrepared();
  trainer.dataRng.setState(state.meta.dataRng);
  trainer.epoch = state.meta.epoch;
  trainer.globalStep = state.meta.globalStep;
  trainer.stepInEpoch = state.meta.stepInEpoch;
  trainer.epochOrder = state.meta.epochOrder ? Int32Array.from(state.meta.epochOrder) : null;
}

/** Model tensors and MoCo bookkeeping into a replica; validated first, so a mismatch changes nothing. */
export function importModelState(moco: Moco, optimizer: SgdMomentum, state: ModelState): void {
  const targets = variablesOf(moco, optimizer);
  const byName = new Map(state.tensors.map((t) => [t.name, t]));
  // Validate everything first so a mismatching checkpoint leaves the trainer untouched.
  for (const [name, v] of targets) {
    const t = byName.get(name);
    // A state from before the first SGD step has no momentum buffers: the replica's are dropped below.
    if (!t && name.startsWith('sgd/velocity/')) continue;
    if (!t) throw new Error(`checkpoint has no tensor "${name}" (was it written by a different architecture?)`);
    if (t.shape.join('x') !== v.shape.join('x')) throw new Error(`checkpoint tensor "${name}" has shape [${t.shape.join(', ')}], the model expects [${v.shape.join(', ')}]`);
  }
  const parameterNames = new Set(moco.queryEncoder.variables.parameters.keys());
  for (const t of state.tensors) {
    if (targets.has(t.name)) continue;
    const velocityOf = t.name.startsWith('sgd/velocity/') ? t.name.slice('sgd/velocity/'.length) : null;
    if (velocityOf === null || !parameterNames.has(velocityOf)) throw new Error(`checkpoint has an unknown tensor "${t.name}"`);
  }
  for (const [name, v] of optimizer.velocity) {
    if (byName.has(`sgd/velocity/${name}`)) continue;
    v.dispose();
    optimizer.velocity.delete(name);
  }
  tf.tidy(() => {
    for (const t of state.tensors) {
      const values = tf.tensor(t.values, [...t.shape]);
      const target = targets.get(t.name);
      if (target) {
        target.assign(values);
      } else {
        optimizer.velocity.set(t.name.slice('sgd/velocity/'.length), tf.keep(tf.variable(values, false)));
      }
    }
  });
  moco.setState(state.moco);
}
