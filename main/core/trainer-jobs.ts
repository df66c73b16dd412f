/** One-shot jobs in a trainer process (embed a run, embed files, kNN), as promises. */
import type { TrainerCommand, TrainerEvent, TrainerEventOf } from '../../shared/trainer-protocol.js';
import { TrainerHost } from './trainer-host.js';

type JobCommand = Extract<TrainerCommand, { type: 'embed' | 'embed-files' | 'knn' }>;
type JobResult<C extends JobCommand> = C['type'] extends 'embed' ? TrainerEventOf<'embedded'> : C['type'] extends 'embed-files' ? TrainerEventOf<'vectors'> : TrainerEventOf<'knn'>;

export async function runTrainerJob<C extends JobCommand>(command: C, onEvent: (event: TrainerEvent) => void = () => undefined): Promise<JobResult<C>> {
  const outcome: { result: TrainerEvent | null; failure: string | null } = { result: null, failure: null };
  const expected = command.type === 'embed' ? 'embedded' : command.type === 'embed-files' ? 'vectors' : 'knn';
  const host = TrainerHost.fork((event) => {
    if (event.type === expected) outcome.result = event;
    else if (event.type === 'error') outcome.failure = event.message;
    onEvent(event);
  });
  host.send(command);
  await host.exited;
  if (outcome.result) return outcome.result as JobResult<C>;
  throw new Error(outcome.failure ?? `The ${command.type} job ended without a result`);
}
