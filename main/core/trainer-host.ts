/**
 * Runs one trainer process per training run and turns it into typed events for the app core.
 * Here the process is a `child_process.fork` (CLI, headless server, tests); the desktop app
 * supplies a utilityProcess-backed `TrainerProcess` with the same behaviour. A trainer that dies
 * without saying `done` (crash, kill, out of memory) is reported as such, never silently.
 */
import { fork } from 'node:child_process';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTrainerEvent, type TrainerCommand, type TrainerEvent } from '../../shared/trainer-protocol.js';

export interface TrainerExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** True when the process ended without saying how (no done, job result or error event). */
  readonly crashed: boolean;
}

/** The transport seam: what a process running main/trainer/entry must offer. */
export interface TrainerProcess {
  send(command: TrainerCommand): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** The last lines the process wrote to stderr, for crash reports. */
  stderrTail(): string;
  kill(): void;
  readonly pid: number | undefined;
}

/** main/trainer/entry.(ts|js) beside this module's tree; .ts files run through tsx. */
export function trainerEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const extension = extname(here);
  return { path: join(dirname(here), '..', 'trainer', `entry${extension}`), execArgv: extension === '.ts' ? ['--import', 'tsx'] : [] };
}

export function forkTrainer(): TrainerProcess {
  const entry = trainerEntry();
  // A larger old-space: long runs keep metrics history and images in memory.
  const child = fork(entry.path, [], { execArgv: [...entry.execArgv, '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'advanced' });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8000);
    process.stderr.write(chunk);
  });
  return {
    send: (command) => { if (child.connected) child.send(command); },
    onMessage: (listener) => { child.on('message', listener); },
    onExit: (listener) => { child.on('exit', listener); },
    stderrTail: () => stderr,
    kill: () => { child.kill('SIGKILL'); },
    get pid() { return child.pid; },
  };
}

function describeCrash(code: number | null, signal: string | null, stderr: string): { code: string; message: string } {
  if (/heap out of memory|Aborted\(OOM\)|Out of memory|Cannot enlarge memory/i.test(stderr)) {
    return { code: 'out-of-memory', message: 'The trainer ran out of memory. Use a smaller batch size, image size or width; the run can resume from its last checkpoint.' };
  }
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const detail = stderr.trim().split('\n').slice(-3).join(' | ');
  return { code: 'crashed', message: `The trainer process ${how} before finishing${detail ? ` (${detail})` : ''}. The run can resume from its last checkpoint.` };
}

export class TrainerHost {
  readonly exited: Promise<TrainerExit>;
  private done = false;

  constructor(private readonly process: TrainerProcess, onEvent: (event: TrainerEvent) => void) {
    process.onMessage((message) => {
      let event: TrainerEvent;
      try {
        event = parseTrainerEvent(message);
      } catch (error) {
        onEvent({ type: 'warning', message: `Ignored a malformed message from the trainer: ${(error as Error).message}` });
        return;
      }
      // A process that said how it ended (done, a job's result, or an error) did not crash.
      if (['done', 'embedded', 'vectors', 'knn', 'error'].includes(event.type)) this.done = true;
      onEvent(event);
    });
    this.exited = new Promise((resolve) => {
      process.onExit((code, signal) => {
        const crashed = !this.done;
        if (crashed) onEvent({ type: 'error', ...describeCrash(code, signal, process.stderrTail()) });
        resolve({ code, signal, crashed });
      });
    });
  }

  static fork(onEvent: (event: TrainerEvent) => void): TrainerHost {
    return new TrainerHost(forkTrainer(), onEvent);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  send(command: TrainerCommand): void {
    this.process.send(command);
  }

  kill(): void {
    this.process.kill();
  }
}
