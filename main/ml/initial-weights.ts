/**
 * Starting a model from weights made elsewhere (issue 11): an imported PyTorch encoder, or any
 * run's checkpoint used to start a new fine-tuning run. Unlike a resume (training-state.ts),
 * only the encoders (and the queue when it fits) are taken: the optimiser, the schedule, the
 * epoch and every RNG start fresh, as a new run.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from './resnet.js';
import type { NamedTensorData, TrainingState } from './training-state.js';
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

function encoderPart(tensors: readonly NamedTensorData[], prefix: string): Map<string, NamedValues> {
  return new Map(tensors.filter((t) => t.name.startsWith(prefix)).map((t) => [t.name.slice(prefix.length), t]));
}

/**
 * Initialises a fresh trainer from a checkpoint's query and key encoders. The queue is taken
 * when it holds real keys (keysEnqueued > 0: a trained run or an imported MoCo queue) and its
 * shape [C, K] and pointer fit this run's K and batch; otherwise the fresh random queue stays.
 */
export function initialiseFromState(trainer: MocoTrainer, state: TrainingState, where: string): { queue: 'imported' | 'fresh'; reason: string } {
  const { queryEncoder, keyEncoder, queue } = trainer.moco;
  const query = encoderPart(state.tensors, 'query/');
  const key = encoderPart(state.tensors, 'key/');
  assignEncoderVariables(queryEncoder, query, `${where} (query encoder)`);
  assignEncoderVariables(keyEncoder, key.size > 0 ? key : query, `${where} (key encoder)`);
  const saved = state.tensors.find((t) => t.name === 'queue');
  const moco = state.meta.moco;
  if (!saved || moco.keysEnqueued === 0) return { queue: 'fresh', reason: 'the source has no trained queue' };
  if (saved.shape.join('x') !== queue.shape.join('x')) return { queue: 'fresh', reason: `the source queue is [${saved.shape.join(', ')}], this run's is [${queue.shape.join(', ')}]` };
  const pointer = moco.queuePointer % trainer.config.batchSize === 0 ? moco.queuePointer : 0;
  tf.tidy(() => { queue.assign(tf.tensor(saved.values, [...saved.shape])); });
  trainer.moco.setState({ ...trainer.moco.getState(), queuePointer: pointer, keysEnqueued: moco.keysEnqueued });
  return { queue: 'imported', reason: `the source queue fits [${saved.shape.join(', ')}]` };
}
