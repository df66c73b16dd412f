/**
 * The trainer as an Electron utilityProcess: the same entry file and messages as the
 * child_process.fork used by the CLI and the server (main/core/trainer-host.ts), so the
 * TrainerHost on top behaves identically. Only this adapter knows about Electron.
 * `computePort`: the trainer's end of a channel to the compute renderer (compute-window.ts),
 * sent first, before any command (main/trainer/renderer-compute.ts receives it).
 */
import { utilityProcess, type MessagePortMain } from 'electron';
import type { TrainerProcess } from '../core/trainer-host.js';

export const COMPUTE_PORT_COMMAND = 'compute-port'; // = main/trainer/renderer-compute.ts

export function forkUtilityTrainer(entryPath: string, computePort?: MessagePortMain): TrainerProcess {
  const child = utilityProcess.fork(entryPath, [], { serviceName: 'MoCo Studio trainer', stdio: ['ignore', 'inherit', 'pipe'] });
  if (computePort) child.postMessage({ type: COMPUTE_PORT_COMMAND }, [computePort]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-8000); });
  let exited = false;
  return {
    send: (command) => { if (!exited) child.postMessage(command); },
    onMessage: (listener) => { child.on('message', listener); },
    onExit: (listener) => {
      child.on('exit', (code) => {
        exited = true;
        computePort?.close();
        listener(code, null);
      });
    },
    stderrTail: () => stderr,
    kill: () => { child.kill(); },
    get pid() { return child.pid; },
  };
}
