/** One-shot jobs in a trainer process (embed a run, embed files, kNN, export the encoder, the backend doctor), as promises. */
import type { TrainerCommand, TrainerEvent, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { forkTrainer, TrainerHost, type TrainerProcess } from './trainer-host.js';

type JobCommand = Extract<TrainerCommand, { type: 'embed' | 'embed-files' | 'knn' | 'doctor' | 'estimate' }>;
type JobResult<C extends JobCommand> = C['type'] extends 'embed' ? TrainerEventOf<'embedded'> : C['type'] extends 'embed-files' ? TrainerEventOf<'vectors'> : C['type'] extends 'doctor' ? TrainerEventOf<'doctor'> : C['type'] extends 'estimate' ? TrainerEventOf<'estimate'> : TrainerEventOf<'knn'>;

const EXPECTED: Record<JobCommand['type'], TrainerEvent['type']> = { embed: 'embedded', 'embed-files': 'vectors', knn: 'knn', doctor: 'doctor', estimate: 'estimate' };

/** `spawn` supplies the process (default: child_process.fork; the desktop app: a utilityProcess). */
export async function runTrainerJob<C extends JobCommand>(command: C, onEvent: (event: TrainerEvent) => void = () => undefined, spawn: () => TrainerProcess = forkTrainer, timeoutMs?: number): Promise<JobResult<C>> {
  const outcome: { result: TrainerEvent | null; failure: string | null } = { result: null, failure: null };
  const expected = EXPECTED[command.type];
  const host = new TrainerHost(spawn(), (event) => {
    if (event.type === expected) outcome.result = event;
    else if (event.type === 'error') outcome.failure = event.message;
    onEvent(event);
  });
  host.send(command);
  // A job that may run away (timing a step of huge settings) is killed after `timeoutMs`.
  // An object: the type checker sees the timer's write.
  const timing = { timedOut: false };
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => { timing.timedOut = true; host.kill(); }, timeoutMs);
  await host.exited;
  clearTimeout(timer);
  if (outcome.result) return outcome.result as JobResult<C>;
  if (timing.timedOut) throw new Error(`it took longer than ${Math.round(timeoutMs! / 1000)} s and was stopped`);
  throw new Error(outcome.failure ?? `The ${command.type} job ended without a result`);
}
