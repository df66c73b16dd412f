/**
 * The compute page's entry for the Playwright test (test/e2e/compute-renderer.spec.ts): the same
 * startComputePage as the desktop app's hidden renderer (main/compute-page/electron-entry.ts),
 * with a WebSocket to the test's Node process as the transport where the app has a MessagePort.
 * Typed arrays cross as binary frames (main/ml/binary-frame.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { startComputePage } from '../../main/compute-page/compute-page.js';
import { decodeFrame, encodeFrame } from '../../main/ml/binary-frame.js';

const url = new URLSearchParams(location.search).get('socket');
if (!url) throw new Error('compute page: ?socket=ws://... is required');
const socket = new WebSocket(url);
socket.binaryType = 'arraybuffer';

startComputePage({
  postMessage: (message) => { socket.send(encodeFrame(message)); },
  onMessage: (listener) => { socket.addEventListener('message', (event: MessageEvent<ArrayBuffer>) => { listener(decodeFrame(new Uint8Array(event.data))); }); },
  onClose: (listener) => { socket.addEventListener('close', (event) => { listener(`socket closed (${event.code})`); }); },
  close: () => { socket.close(); },
});

// For the leak check: the page's tensor count, read by page.evaluate.
(window as unknown as { mocoComputeMemory: () => tf.MemoryInfo }).mocoComputeMemory = () => tf.memory();
