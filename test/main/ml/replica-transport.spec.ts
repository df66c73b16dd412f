// Compute replicas over a message transport (issue 8): the serve loop and the validating channel
// over a real MessageChannel (node:worker_threads; the same structured clone as Electron's
// MessagePortMain), and the binary frames the WebSocket transport carries.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from '../../../main/ml/binary-frame.js';
import { InProcessHost } from '../../../main/ml/in-process-host.js';
import { EndpointReplicaChannel, serveReplica, type MessageEndpoint } from '../../../main/ml/replica-transport.js';
import { MocoTrainer, type StepReport } from '../../../main/ml/trainer.js';
import { WorkerPoolHost } from '../../../main/ml/worker-pool-host.js';
import type { ComputeHost } from '../../../main/ml/compute-host.js';
import type { ReplicaRequest, ReplicaSetup } from '../../../main/ml/compute-protocol.js';
import { useBackend } from '../../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

const config = tinyTrainingConfig();
const setupFor = (replicas: number): ReplicaSetup => ({ moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: config.batchSize, replicas, index: 0, gradients: null, backend: 'wasm' });
const images = tinySampleImages(2);

function portEndpoint(port: MessagePort): MessageEndpoint {
  return {
    postMessage: (message, transfer) => { port.postMessage(message, [...transfer]); },
    onMessage: (listener) => { port.on('message', listener); },
    onClose: (listener) => { port.on('close', () => { listener('port closed'); }); },
    close: () => { port.close(); },
  };
}

async function run(host: ComputeHost, trainer: MocoTrainer, steps: number): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (let i = 0; i < steps; i++) reports.push(await trainer.trainStepOn(host, images));
  return reports;
}

describe('compute replica over a message port', () => {
  beforeAll(async () => { await useBackend('wasm'); });
  const opened: MessagePort[] = [];
  afterAll(() => { for (const p of opened) p.close(); });

  it('without shared memory (gradients in messages) equals the in-process step exactly, and leaks no tensor', async () => {
    const local = new MocoTrainer(config);
    const inProcess = new InProcessHost(local.moco, local.optimizer);
    const reference = await run(inProcess, local, 2);
    const referenceState = await inProcess.exportState();
    local.dispose();

    const tensorsBefore = tf.memory().numTensors;
    const { port1, port2 } = new MessageChannel();
    opened.push(port1, port2);
    serveReplica(portEndpoint(port2)); // this thread's wasm backend, as a page has its webgpu
    const host = await WorkerPoolHost.create({
      moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: config.batchSize,
      workers: 1, backend: 'wasm', sharedMemory: false, kind: 'renderer',
      openChannel: () => new EndpointReplicaChannel(portEndpoint(port1), 'compute port'),
    });
    const reports = await run(host, new MocoTrainer(config, { localModel: false }), 2);
    const state = await host.exportState();
    expect(reports.map((r) => r.metrics)).toEqual(reference.map((r) => r.metrics));
    expect(state.moco).toEqual(referenceState.moco);
    for (const [i, t] of state.tensors.entries()) expect(t.values, t.name).toEqual(referenceState.tensors[i]!.values);
    await host.dispose();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the close reaches the serve loop
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('refuses a malformed reply with the request type and field, and fails pending requests when the port closes', async () => {
    const { port1, port2 } = new MessageChannel();
    opened.push(port1, port2);
    port2.on('message', (message: { id: number }) => { port2.postMessage({ id: message.id, reply: { bytes: 'lots' } }); });
    const channel = new EndpointReplicaChannel(portEndpoint(port1), 'compute renderer');
    await expect(channel.request({ type: 'heap' })).rejects.toThrow(/compute renderer: invalid heap reply at bytes/);
    port2.removeAllListeners('message');
    const pending = channel.request({ type: 'export' });
    port2.close();
    await expect(pending).rejects.toThrow(/compute renderer: connection lost \(port closed\)/);
  });

  it('the serve loop refuses malformed requests with an error naming the type and field, and keeps serving', async () => {
    const { port1, port2 } = new MessageChannel();
    opened.push(port1, port2);
    serveReplica(portEndpoint(port2)); // validates by default: a page's sender is another process
    const channel = new EndpointReplicaChannel(portEndpoint(port1), 'compute page');
    // 12 values cannot be 2 images of 2x2x3: refused before any tensor is made
    await expect(channel.request({ type: 'keys', pixels: new Float32Array(12), count: 2, imageSize: 2 })).rejects.toThrow(/compute page: invalid keys request at pixels: pixels must hold count x imageSize/);
    await expect(channel.request({ type: 'embed', pixels: new Float32Array(3), count: 1e9, imageSize: 1, representation: 'backbone' })).rejects.toThrow(/invalid embed request at count/);
    await expect(channel.request({ type: 'wipe-disk' } as unknown as ReplicaRequest)).rejects.toThrow(/unknown request type "wipe-disk"/);
    await expect(channel.request({ type: 'init', setup: { ...setupFor(1), backend: 'cuda' } } as unknown as ReplicaRequest)).rejects.toThrow(/invalid init request at setup\.backend/);
    // the replica still answers a good request after the bad ones
    expect(await channel.request({ type: 'init', setup: setupFor(1) })).toMatchObject({ dim: config.moco.encoder.dim });
    await channel.request({ type: 'dispose' });
  });

  it('binary frames carry typed arrays, nested objects and non-finite numbers', () => {
    const message = { id: 3, reply: { keys: new Float32Array([1.5, -2, Number.NaN]), n: Number.POSITIVE_INFINITY, list: [new Int32Array([7]), { s: 'x', u: new Uint8Array([1, 2, 3]) }], none: null } };
    const back = (decodeFrame(encodeFrame(message)) as typeof message).reply;
    expect(back.keys).toBeInstanceOf(Float32Array);
    expect([...back.keys]).toEqual([1.5, -2, Number.NaN]);
    expect(back.n).toBe(Number.POSITIVE_INFINITY);
    expect(back.list[0]).toEqual(new Int32Array([7]));
    expect(back.list[1]).toEqual({ s: 'x', u: new Uint8Array([1, 2, 3]) });
    expect(back.none).toBeNull();
    expect(() => decodeFrame(new Uint8Array([9, 0, 0, 0, 1]))).toThrow(/binary frame: header longer than the frame/);
    expect(() => encodeFrame({ b: new ArrayBuffer(4) })).toThrow(/typed arrays, not bare/);
  });
});
