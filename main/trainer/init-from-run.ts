/**
 * `train --init <run>` (issue 11): a new run starts from another run's encoders, e.g. an imported
 * PyTorch model. It goes through the run's compute host (issue 9), so it works whether the model
 * lives in this thread or in worker replicas: the fresh model state is exported, its encoders
 * (and the queue when it fits) replaced from the source checkpoint, and imported back.
 */
import { readRunRecord, runPaths } from '../core/run-store.js';
import type { ModelState, NamedTensorData, TrainingState } from '../ml/training-state.js';
import { loadLatestCheckpoint } from './checkpoint.js';
import type { TrainingCompute } from './compute-hosts.js';

/**
 * The fresh `model` with the source's query and key encoders (the key falls back to the query
 * when the source has none). Every encoder tensor must be present with the same shape, and the
 * source may hold no encoder tensor the model lacks, or nothing changes. The queue is taken when
 * it holds real keys and its shape [C, K] fits; the optimiser and RNGs stay fresh, as a new run.
 */
export function initialStateFrom(model: ModelState, source: TrainingState, batchSize: number, where: string): { state: ModelState; queue: 'imported' | 'fresh'; reason: string } {
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const hasKey = source.tensors.some((t) => t.name.startsWith('key/'));
  const isEncoder = (name: string): boolean => name.startsWith('query/') || name.startsWith('key/');
  const wanted = new Set(model.tensors.filter((t) => isEncoder(t.name)).map((t) => t.name));
  const sourceNames = source.tensors.filter((t) => t.name.startsWith('query/') || (hasKey && t.name.startsWith('key/'))).map((t) => t.name);
  const expected = hasKey ? wanted : new Set([...wanted].filter((n) => n.startsWith('query/')));
  const missing = [...expected].filter((n) => !byName.has(n));
  const extra = sourceNames.filter((n) => !expected.has(n));
  if (missing.length || extra.length) throw new Error(`${where}: weights do not match the encoder (missing: ${missing.join(', ') || 'none'}; unknown: ${extra.join(', ') || 'none'})`);
  const tensors: NamedTensorData[] = model.tensors.map((t) => {
    if (!isEncoder(t.name)) return t;
    const given = byName.get(hasKey ? t.name : t.name.replace(/^key\//, 'query/'))!;
    if (given.shape.join('x') !== t.shape.join('x')) throw new Error(`${where}: "${t.name}" has shape [${given.shape.join(', ')}], the encoder expects [${t.shape.join(', ')}]`);
    return { ...t, values: Float32Array.from(given.values) };
  });
  const savedQueue = byName.get('queue');
  const freshQueue = model.tensors.find((t) => t.name === 'queue');
  const moco = source.meta.moco;
  const fresh = (reason: string): { state: ModelState; queue: 'fresh'; reason: string } => ({ state: { tensors, moco: model.moco }, queue: 'fresh', reason });
  if (!savedQueue || !freshQueue || moco.keysEnqueued === 0) return fresh('the source has no trained queue');
  if (savedQueue.shape.join('x') !== freshQueue.shape.join('x')) return fresh(`the source queue is [${savedQueue.shape.join(', ')}], this run's is [${freshQueue.shape.join(', ')}]`);
  const withQueue = tensors.map((t) => (t.name === 'queue' ? { ...t, values: Float32Array.from(savedQueue.values) } : t));
  const queuePointer = moco.queuePointer % batchSize === 0 ? moco.queuePointer : 0;
  return { state: { tensors: withQueue, moco: { ...model.moco, queuePointer, keysEnqueued: moco.keysEnqueued } }, queue: 'imported', reason: `the source queue fits [${savedQueue.shape.join(', ')}]` };
}

/** Loads the source run's newest good checkpoint into the fresh compute host; returns what was done, for the log. */
export async function initialiseFromRun(compute: TrainingCompute, sourceRun: string): Promise<string> {
  await readRunRecord(sourceRun); // a clear error when it is not a run
  const { checkpoint, rejected } = await loadLatestCheckpoint(runPaths(sourceRun).checkpoints);
  if (!checkpoint) throw new Error(`--init ${sourceRun}: no usable checkpoint${rejected.length ? ` (${rejected.map((r) => r.reason).join('; ')})` : ''}`);
  const fresh = await compute.host.exportState();
  const { state, queue, reason } = initialStateFrom(fresh, checkpoint.state, compute.trainer.config.batchSize, `--init ${checkpoint.path}`);
  await compute.host.importState(state);
  return `started from the encoders of ${checkpoint.path}; queue ${queue === 'imported' ? 'taken over' : 'fresh'} (${reason})`;
}
