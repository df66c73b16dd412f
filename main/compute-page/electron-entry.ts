/**
 * The desktop app's compute renderer entry (issue 8): a hidden, sandboxed window without Node
 * (main/electron/compute-window.ts). Its preload (main/preload/compute-preload.ts) forwards each
 * MessagePort the main process sends; each port is one trainer process's channel to a replica
 * here. Bundled to dist/renderer/compute.js by `npm run build:electron`.
 */
import { startComputePage } from './compute-page.js';
import type { MessageEndpoint } from '../ml/replica-transport.js';

/** The preload's message to this window; its first port is the trainer's channel. */
export const COMPUTE_PORT_MESSAGE = 'moco:compute-port';

function portEndpoint(port: MessagePort): MessageEndpoint {
  return {
    postMessage: (message, transfer) => { port.postMessage(message, [...transfer]); },
    onMessage: (listener) => {
      port.onmessage = (event: MessageEvent) => { listener(event.data); }; // also starts the port
    },
    // MessagePort 'close' (Chromium 123+): the trainer process exited or closed its end.
    onClose: (listener) => { port.addEventListener('close', () => { listener('trainer closed its port'); }); },
    close: () => { port.close(); },
  };
}

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window || event.data !== COMPUTE_PORT_MESSAGE) return;
  const port = event.ports[0];
  if (port) startComputePage(portEndpoint(port));
});
