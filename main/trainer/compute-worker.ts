/**
 * The worker_threads entry of a compute replica: its own wasm backend (with our training
 * kernels registered in this thread), one ComputeReplica, requests answered in order by the
 * serve loop every replica transport shares (main/ml/replica-transport.ts).
 */
import { parentPort } from 'node:worker_threads';
import { initialiseBackend } from '../ml/backend.js';
import { serveReplica } from '../ml/replica-transport.js';

const port = parentPort;
if (!port) throw new Error('compute-worker.ts runs as a worker thread only');

serveReplica({
  postMessage: (message, transfer) => { port.postMessage(message, [...transfer]); },
  onMessage: (listener) => { port.on('message', listener); },
  onClose: (listener) => { port.on('close', () => { listener('parent port closed'); }); },
  close: () => { port.close(); },
}, {
  // Our own thread in our own process: the requests are the coordinator's, not validated again.
  validate: false,
  prepare: async (backend) => {
    if (backend === 'webgpu') throw new Error('compute worker: webgpu replicas run in a browser page (main/compute-page), not in a worker thread');
    await initialiseBackend(backend);
  },
});
