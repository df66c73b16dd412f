/** `train --init <run>` (issue 11): a new run starts from another run's encoders, e.g. an imported PyTorch model. */
import { readRunRecord, runPaths } from '../core/run-store.js';
import { initialiseFromState } from '../ml/initial-weights.js';
import type { MocoTrainer } from '../ml/trainer.js';
import { loadLatestCheckpoint } from './checkpoint.js';

/** Loads the source run's newest good checkpoint into the fresh trainer; returns what was done, for the log. */
export async function initialiseFromRun(trainer: MocoTrainer, sourceRun: string): Promise<string> {
  await readRunRecord(sourceRun); // a clear error when it is not a run
  const { checkpoint, rejected } = await loadLatestCheckpoint(runPaths(sourceRun).checkpoints);
  if (!checkpoint) throw new Error(`--init ${sourceRun}: no usable checkpoint${rejected.length ? ` (${rejected.map((r) => r.reason).join('; ')})` : ''}`);
  const { queue, reason } = initialiseFromState(trainer, checkpoint.state, `--init ${checkpoint.path}`);
  return `started from the encoders of ${checkpoint.path}; queue ${queue === 'imported' ? 'taken over' : 'fresh'} (${reason})`;
}
