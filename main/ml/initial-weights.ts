/**
 * Starting a model from weights made elsewhere (issue 11): an imported PyTorch encoder, or any
 * run's checkpoint used to start a new fine-tuning run. Unlike a resume (training-state.ts),
 * only the encoders (and the queue when it fits) are taken: the optimiser, the schedule, the
 * epoch and every RNG start fresh, as a new run.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from './resnet.js';
import { exportModelStateSync, importModelState, type ModelState, type TrainingState } from './training-state.js';
import type { MocoTrainer } from './trainer.js';

export interface NamedValues {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/**
 * Assigns every parameter and buffer of `encoder` from `named` (our variable names). All of them
 * must be present with the same shape and no extra name may be given, or nothing changes.
 */
export function assignEncoderVariables(encoder: Encoder, named: ReadonlyMap<string, NamedValues>, where: string): void {
  const targets = new Map([...encoder.variables.parameters, ...encoder.variables.buffers]);
  const missing = [...targets.keys()].filter((n) => !named.has(n));
  const extra = [...named.keys()].filter((n) => !targets.has(n));
  if (missing.length || extra.length) throw new Error(`${where}: weights do not match the encoder (missing: ${missing.join(', ') || 'none'}; unknown: ${extra.join(', ') || 'none'})`);
  for (const [name, v] of targets) {
    const given = named.get(name)!;
    if (given.shape.join('x') !== v.shape.join('x')) throw new Error(`${where}: "${name}" has shape [${given.shape.join(', ')}], the encoder expects [${v.shape.join(', ')}]`);
  }
  tf.tidy(() => {
    for (const [name, v] of targets) {
      const given = named.get(name)!;
      v.assign(tf.tensor(given.values, [...given.shape]));
    }
  });
}

/**
 * The fresh `model` state with the source's query and key encoders (the key falls back to the
 * query when the source has none). Every encoder tensor must be present with the same shape and
 * the source may hold no encoder tensor the model lacks, or this throws and nothing changes. The
 * queue is taken when it holds real keys (keysEnqueued > 0: a trained run or an imported MoCo
 * queue) and its shape [C, K] fits; the optimiser and RNGs stay fresh, as a new run. Pure data,
 * so it serves a model in this thread and one behind a compute host alike.
 */
export function initialStateFrom(model: ModelState, source: TrainingState, batchSize: number, where: string): { state: ModelState; queue: 'imported' | 'fresh'; reason: string } {
  const sourceByName = new Map(source.tensors.map((t) => [t.name, t]));
  const hasKey = source.tensors.some((t) => t.name.startsWith('key/'));
  const replaced = new Map<string, Float32Array>();
  for (const [prefix, label] of [['query/', 'query encoder'], ['key/', 'key encoder']] as const) {
    const from = hasKey ? prefix : 'query/';
    const targets = model.tensors.filter((t) => t.name.startsWith(prefix));
    const given = new Map(source.tensors.filter((t) => t.name.startsWith(from)).map((t) => [t.name.slice(from.length), t]));
    const names = new Set(targets.map((t) => t.name.slice(prefix.length)));
    const missing = [...names].filter((n) => !given.has(n));
    const extra = [...given.keys()].filter((n) => !names.has(n));
    if (missing.length || extra.length) throw new Error(`${where} (${label}): weights do not match the encoder (missing: ${missing.join(', ') || 'none'}; unknown: ${extra.join(', ') || 'none'})`);
    for (const t of targets) {
      const name = t.name.slice(prefix.length);
      const g = given.get(name)!;
      if (g.shape.join('x') !== t.shape.join('x')) throw new Error(`${where} (${label}): "${name}" has shape [${g.shape.join(', ')}], the encoder expects [${t.shape.join(', ')}]`);
      replaced.set(t.name, Float32Array.from(g.values));
    }
  }
  const saved = sourceByName.get('queue');
  const fresh = model.tensors.find((t) => t.name === 'queue');
  const moco = source.meta.moco;
  let queue: { kind: 'imported' | 'fresh'; reason: string };
  if (!saved || !fresh || moco.keysEnqueued === 0) queue = { kind: 'fresh', reason: 'the source has no trained queue' };
  else if (saved.shape.join('x') !== fresh.shape.join('x')) queue = { kind: 'fresh', reason: `the source queue is [${saved.shape.join(', ')}], this run's is [${fresh.shape.join(', ')}]` };
  else {
    replaced.set('queue', Float32Array.from(saved.values));
    queue = { kind: 'imported', reason: `the source queue fits [${saved.shape.join(', ')}]` };
  }
  const tensors = model.tensors.map((t) => {
    const values = replaced.get(t.name);
    return values ? { ...t, values } : t;
  });
  const mocoState = queue.kind === 'imported'
    ? { ...model.moco, queuePointer: moco.queuePointer % batchSize === 0 ? moco.queuePointer : 0, keysEnqueued: moco.keysEnqueued }
    : model.moco;
  return { state: { tensors, moco: mocoState }, queue: queue.kind, reason: queue.reason };
}

/** initialStateFrom for a fresh trainer whose model lives in this thread (wasm/cpu: read synchronously). */
export function initialiseFromState(trainer: MocoTrainer, state: TrainingState, where: string): { queue: 'imported' | 'fresh'; reason: string } {
  const { state: initial, queue, reason } = initialStateFrom(exportModelStateSync(trainer.moco, trainer.optimizer), state, trainer.config.batchSize, where);
  importModelState(trainer.moco, trainer.optimizer, initial);
  return { queue, reason };
}
