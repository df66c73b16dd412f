/**
 * The worker_threads entry of a compute replica: its own wasm backend (with our training
 * kernels registered in this thread), one ComputeReplica, requests answered in order.
 */
import { parentPort } from 'node:worker_threads';
import { initialiseBackend } from '../ml/backend.js';
import { transferables, type ReplicaRequest } from '../ml/compute-protocol.js';
import { ComputeReplica } from '../ml/compute-replica.js';

const port = parentPort;
if (!port) throw new Error('compute-worker.ts runs as a worker thread only');
const replica = new ComputeReplica();
let queue: Promise<void> = Promise.resolve();

port.on('message', (message: { id: number; request: ReplicaRequest }) => {
  queue = queue.then(async () => {
    try {
      if (message.request.type === 'init') await initialiseBackend(message.request.setup.backend);
      const reply = replica.handle(message.request);
      port.postMessage({ id: message.id, reply }, transferables(reply));
    } catch (error) {
      port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
});
