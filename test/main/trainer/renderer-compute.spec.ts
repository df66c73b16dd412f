// The trainer's end of the desktop GPU route (issue 8), without Electron: the port arrives as
// utility-trainer.ts sends it (first message, { type: 'compute-port' } with one port), here a real
// node:worker_threads MessagePort wrapped to MessagePortMain's event shape ({ data }) — the
// Electron API boundary. The far end is a replica served in this thread on wasm, which has no
// WebGPU adapter: the choice must say so and fall back, and the host must still step through the port.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { serveReplica } from '../../../main/ml/replica-transport.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { acceptComputePort, chooseBackendWithRenderer, hasRendererCompute, openRendererCompute, type PortMainLike } from '../../../main/trainer/renderer-compute.js';
import { initialiseBackend } from '../../../main/ml/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

/** MessagePortMain's shape over a node MessagePort (stand-in for Electron's class at its API boundary). */
function asPortMain(port: MessagePort): PortMainLike {
  return {
    postMessage: (message) => { port.postMessage(message); },
    on: (event: 'message' | 'close', listener: ((e: { data: unknown }) => void) | (() => void)) => {
      if (event === 'message') port.on('message', (data: unknown) => { (listener as (e: { data: unknown }) => void)({ data }); });
      else port.on('close', listener as () => void);
    },
    start: () => { port.start(); },
    close: () => { port.close(); },
  } as PortMainLike;
}

describe('compute renderer port in the trainer', () => {
  const { port1, port2 } = new MessageChannel();
  afterAll(() => { port1.close(); port2.close(); });

  it('takes the port from the first message only, and leaves ordinary commands alone', () => {
    expect(acceptComputePort({ data: { type: 'start' } })).toBe(false);
    expect(hasRendererCompute()).toBe(false);
    serveReplica({
      postMessage: (message, transfer) => { port2.postMessage(message, [...transfer]); },
      onMessage: (listener) => { port2.on('message', listener); },
      onClose: (listener) => { port2.on('close', () => { listener('closed'); }); },
      close: () => { port2.close(); },
    }, { prepare: () => initialiseBackend('wasm').then(() => undefined) }); // wasm: this page has no WebGPU
    expect(acceptComputePort({ data: { type: 'compute-port' }, ports: [asPortMain(port1)] })).toBe(true);
    expect(hasRendererCompute()).toBe(true);
  });

  it('without a WebGPU adapter in the renderer, webgpu falls back to wasm with the reason', async () => {
    const choice = await chooseBackendWithRenderer({ preferred: 'webgpu', env: {} });
    expect(choice.name).toBe('wasm');
    expect(choice.attempts[0]).toEqual({ name: 'webgpu', ok: false, reason: 'the compute renderer reported no WebGPU adapter' });
    expect(choice.attempts.filter((a) => a.name === 'webgpu')).toHaveLength(1);
  });

  it('steps a run through the port (the coordinator of the worker pool, one replica)', async () => {
    const config = tinyTrainingConfig();
    const host = await openRendererCompute(config);
    expect(host.kind).toBe('renderer');
    const report = await new MocoTrainer(config, { localModel: false }).trainStepOn(host, tinySampleImages(1));
    expect(Number.isFinite(report.metrics.loss)).toBe(true);
    await host.dispose();
  });
});
