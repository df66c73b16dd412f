/**
 * The trainer process entry: wiring only. Receives validated commands from the app core and
 * sends events back, over child_process.fork's IPC channel (CLI, server, tests) or Electron's
 * utilityProcess parentPort (the desktop app). One process trains one run, then exits.
 */
import { parseTrainerCommand, type TrainerEvent } from '../../shared/trainer-protocol.js';
import { doctorJob } from './doctor.js';
import { estimateJob } from './estimate.js';
import { embedFiles, embedRun, knnEvaluation } from './encoder-jobs.js';
import { embedFilesAsPixels, embedRunPixels } from './pixel-embeddings.js';
import { acceptComputePort, type PortMainLike } from './renderer-compute.js';
import { TrainingRun } from './training-run.js';
import { updateRunRecord } from '../core/run-store.js';

interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown; ports?: readonly PortMainLike[] }) => void): void;
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;

/**
 * A lost parent (kill -9 of the CLI or the server) makes process.send fail with EPIPE, raised as
 * an 'error' event; unhandled, the wasm module's uncaughtException handler rethrows it and the
 * process exits 7 without a checkpoint (issue 13). Every way the channel can fail ends here
 * instead: stop training with a checkpoint, record the state, exit 0.
 */
let parentLost = false;
function onParentLost(): void {
  if (parentLost) return;
  parentLost = true;
  if (run) run.stop();
  else process.exit(0);
}

function send(event: TrainerEvent): void {
  if (parentLost) return;
  if (parentPort) {
    parentPort.postMessage(event);
    return;
  }
  if (!process.connected) return;
  try {
    process.send?.(event, undefined, {}, (error: Error | null) => { if (error) onParentLost(); });
  } catch {
    onParentLost(); // a synchronous failure (channel closed between the check and the send)
  }
}

function onMessage(listener: (message: unknown) => void): void {
  // The desktop app's first message may carry the compute renderer's port (issue 8).
  if (parentPort) parentPort.on('message', (event) => { if (!acceptComputePort(event)) listener(event.data); });
  else process.on('message', listener);
}

function exitSoon(code: number): void {
  // Give the IPC channel a moment to flush the last events before the process goes.
  setTimeout(() => process.exit(code), 50);
}

function fail(code: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  send({ type: 'error', code, message });
}

// Ctrl-C in a terminal reaches the whole process group: while training, the host turns it into a
// clean `stop` (checkpoint first), so the trainer ignores the signal itself; a one-shot job just ends.
process.on('SIGINT', () => {
  if (!run) process.exit(130);
});
// The host went away (killed, closed): stop training with a checkpoint, or end the job.
process.on('disconnect', onParentLost);
// Channel errors (EPIPE) not tied to one send, and writes to the parent's pipes after it died.
process.on('error', onParentLost);
process.stderr.on('error', () => undefined);
process.stdout.on('error', () => undefined);
process.on('uncaughtException', (error) => {
  fail('uncaught', error);
  exitSoon(1);
});
process.on('unhandledRejection', (error) => {
  fail('uncaught', error);
  exitSoon(1);
});

let run: TrainingRun | null = null;
let busy = false;

onMessage((message) => {
  let command;
  try {
    command = parseTrainerCommand(message);
  } catch (error) {
    fail('invalid-command', error);
    return;
  }
  if (command.type === 'embed' || command.type === 'embed-files' || command.type === 'knn' || command.type === 'doctor' || command.type === 'estimate') {
    if (busy) {
      fail('busy', new Error('This trainer process is already working'));
      return;
    }
    busy = true;
    const warn = (message: string): void => { send({ type: 'warning', message }); };
    const onLoading = (done: number, total: number): void => { send({ type: 'loading', done, total }); };
    const job = command.type === 'doctor' ? doctorJob(command, (message) => { send({ type: 'log', message }); })
      : command.type === 'estimate' ? estimateJob(command)
      : command.type === 'embed'
      ? (command.pixels ? embedRunPixels(command, onLoading) : embedRun(command, warn, onLoading))
      : command.type === 'embed-files' ? (command.pixels ? embedFilesAsPixels(command) : embedFiles(command, warn))
        : knnEvaluation(command, warn);
    job.then(
      (result) => { send(result); exitSoon(0); },
      (error: unknown) => { fail(`${command.type}-failed`, error); exitSoon(1); },
    );
    return;
  }
  if (command.type !== 'start') {
    if (!run) {
      fail('not-running', new Error(`"${command.type}" received before "start"`));
      return;
    }
    if (command.type === 'pause') run.pause();
    else if (command.type === 'resume') run.resume();
    else run.stop();
    return;
  }
  if (run || busy) {
    fail('already-running', new Error('This trainer process is already training a run'));
    return;
  }
  const current = new TrainingRun(send);
  run = current;
  current.run(command).then(
    (summary) => {
      const reason = current.failed ? 'failed' : current.finished ? 'finished' : 'stopped';
      send({ type: 'done', reason, summary });
      exitSoon(0);
    },
    (error: unknown) => {
      fail('training-failed', error);
      // The reason outlives the live event: run.json says failed, and why (written before exiting).
      const message = error instanceof Error ? error.message : String(error);
      void updateRunRecord(command.runDirectory, { status: 'failed', message }).catch(() => undefined).finally(() => {
        send({
          type: 'done',
          reason: 'failed',
          summary: { imagesUsed: 0, imagesSkipped: 0, epochs: 0, steps: 0, imagesPerSecond: 0, finalLoss: null, knnTop1: null, knnTop1AtStart: null, backend: 'unknown', runDirectory: command.runDirectory, checkpoint: null },
        });
        exitSoon(1);
      });
    },
  );
});
