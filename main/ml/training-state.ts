/**
 * Everything needed to continue a run exactly where it stopped, as named tensors plus plain
 * data: both encoders (parameters and BatchNorm buffers), the queue, the optimiser's momentum
 * buffers, the queue pointer, every RNG state, epoch and step. The file format lives in
 * main/trainer/checkpoint.ts; this module only maps a MocoTrainer to and from that content.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MocoState } from './moco.js';
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

function variablesOf(trainer: MocoTrainer): Map<string, tf.Variable> {
  const all = new Map<string, tf.Variable>();
  const { queryEncoder, keyEncoder, queue } = trainer.moco;
  for (const [n, v] of queryEncoder.variables.parameters) all.set(`query/${n}`, v);
  for (const [n, v] of queryEncoder.variables.buffers) all.set(`query/${n}`, v);
  for (const [n, v] of keyEncoder.variables.parameters) all.set(`key/${n}`, v);
  for (const [n, v] of keyEncoder.variables.buffers) all.set(`key/${n}`, v);
  all.set('queue', queue);
  for (const [n, v] of trainer.optimizer.velocity) all.set(`sgd/velocity/${n}`, v);
  return all;
}

/** Asynchronous: read with `await data()`, the only read of a GPU tensor in Node (issue 8). */
export async function exportTrainingState(trainer: MocoTrainer): Promise<TrainingState> {
  const tensors: NamedTensorData[] = [];
  for (const [name, v] of variablesOf(trainer)) {
    tensors.push({ name, shape: [...v.shape], values: Float32Array.from(await v.data()) });
  }
  return {
    meta: { epoch: trainer.epoch, globalStep: trainer.globalStep, stepInEpoch: trainer.stepInEpoch, epochOrder: trainer.epochOrder ? Array.from(trainer.epochOrder) : null, moco: trainer.moco.getState(), dataRng: trainer.dataRng.getState() },
    tensors,
  };
}

/**
 * Restores a state into a trainer built with the same configuration. Every tensor must match a
 * variable by name and shape (optimizer buffers are created when absent), or nothing is changed.
 */
export function importTrainingState(trainer: MocoTrainer, state: TrainingState): void {
  const targets = variablesOf(trainer);
  const byName = new Map(state.tensors.map((t) => [t.name, t]));
  // Validate everything first so a mismatching checkpoint leaves the trainer untouched.
  for (const [name, v] of targets) {
    const t = byName.get(name);
    if (!t) throw new Error(`checkpoint has no tensor "${name}" (was it written by a different architecture?)`);
    if (t.shape.join('x') !== v.shape.join('x')) throw new Error(`checkpoint tensor "${name}" has shape [${t.shape.join(', ')}], the model expects [${v.shape.join(', ')}]`);
  }
  const parameterNames = new Set(trainer.moco.queryEncoder.variables.parameters.keys());
  for (const t of state.tensors) {
    if (targets.has(t.name)) continue;
    const velocityOf = t.name.startsWith('sgd/velocity/') ? t.name.slice('sgd/velocity/'.length) : null;
    if (velocityOf === null || !parameterNames.has(velocityOf)) throw new Error(`checkpoint has an unknown tensor "${t.name}"`);
  }
  tf.tidy(() => {
    for (const t of state.tensors) {
      const values = tf.tensor(t.values, [...t.shape]);
      const target = targets.get(t.name);
      if (target) {
        target.assign(values);
      } else {
        trainer.optimizer.velocity.set(t.name.slice('sgd/velocity/'.length), tf.keep(tf.variable(values, false)));
      }
    }
  });
  trainer.moco.setState(state.meta.moco);
  trainer.dataRng.setState(state.meta.dataRng);
  trainer.epoch = state.meta.epoch;
  trainer.globalStep = state.meta.globalStep;
  trainer.stepInEpoch = state.meta.stepInEpoch;
  trainer.epochOrder = state.meta.epochOrder ? Int32Array.from(state.meta.epochOrder) : null;
}
