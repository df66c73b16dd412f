/**
 * `train --init <run>` (issue 11): a new run starts from another run's encoders, e.g. an imported
 * PyTorch model. It goes through the run's compute host (issue 9), so it works whether the model
 * lives in this thread or in worker replicas: the fresh model state is exported, its encoders
 * (and the queue when it fits) replaced from the source checkpoint (initialStateFrom), and
 * imported back.
 */
import { readRunRecord, runPaths } from '../core/run-store.js';
import { initialStateFrom } from '../ml/initial-weights.js';
import { loadLatestCheckpoint } from './checkpoint.js';
import type { TrainingCompute } from './compute-hosts.js';

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
