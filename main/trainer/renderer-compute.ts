/**
 * The trainer's end of the desktop app's GPU route (issue 8). In Electron, Dawn cannot run in
 * this utilityProcess, so the main process gives the trainer a MessagePortMain to a hidden
 * compute renderer with Chromium's WebGPU (main/electron/compute-window.ts). A webgpu run then
 * steps through that port: the worker pool's coordinator with one replica and no shared memory
 * (the MoCo step is compute-replica.ts, as in the wasm workers). Everything else (data,
 * augmentation, checkpoints, files) stays here. Outside Electron no port is ever offered and
 * this module changes nothing.
 */
import { chooseBackend, parseBackendName, type BackendAttempt, type BackendChoice, type ChooseBackendOptions } from '../ml/backend.js';
import type { ProbeReply } from '../ml/compute-protocol.js';
import { EndpointReplicaChannel, type MessageEndpoint } from '../ml/replica-transport.js';
import { WorkerPoolHost } from '../ml/worker-pool-host.js';
import { formatAdapter } from '../ml/webgpu-backend.js';
import type { TrainingConfig } from '../ml/trainer.js';

/** The first message of utility-trainer.ts, carrying the port. */
export const COMPUTE_PORT_COMMAND = 'compute-port';

/** Electron's MessagePortMain, as far as this module uses it (no Electron import in the trainer). */
export interface PortMainLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  on(event: 'close', listener: () => void): void;
  start(): void;
  close(): void;
}

/** How long the compute renderer may take to load WebGPU and answer a probe. */
const PROBE_TIMEOUT_MS = 30_000;

let channel: EndpointReplicaChannel | null = null;

/** entry.ts: true when `event` was the compute port (consumed), false for an ordinary command. */
export function acceptComputePort(event: { data: unknown; ports?: readonly PortMainLike[] }): boolean {
  const data = event.data as { type?: unknown } | null;
  if (data?.type !== COMPUTE_PORT_COMMAND) return false;
  const port = event.ports?.[0];
  if (!port || channel) return true;
  const endpoint: MessageEndpoint = {
    postMessage: (message) => { port.postMessage(message); }, // MessagePortMain clones typed arrays
    onMessage: (listener) => { port.on('message', (e) => { listener(e.data); }); },
    onClose: (listener) => { port.on('close', () => { listener('the compute renderer closed its port or crashed'); }); },
    close: () => { port.close(); },
  };
  channel = new EndpointReplicaChannel(endpoint, 'compute renderer');
  port.start();
  return true;
}

export function hasRendererCompute(): boolean {
  return channel !== null;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${what} did not answer within ${ms / 1000} s`)); }, ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(String(e))); });
  });
}

/**
 * chooseBackend, plus the compute renderer where this trainer has one: webgpu runs there when
 * asked for, or on 'auto' when its adapter is a real GPU (a software adapter only when allowed,
 * as in Node). The trainer's own thread gets wasm for what little it computes itself. Any
 * failure is an attempt with its reason, then the usual choice.
 */
export async function chooseBackendWithRenderer(options: ChooseBackendOptions): Promise<BackendChoice> {
  const env = options.env ?? {};
  const fromEnv = env.MOCO_BACKEND ? parseBackendName(env.MOCO_BACKEND, 'MOCO_BACKEND') : 'auto';
  const wanted = options.preferred && options.preferred !== 'auto' ? options.preferred : fromEnv;
  if (!channel || (wanted !== 'webgpu' && wanted !== 'auto')) return chooseBackend(options);
  let attempt: BackendAttempt;
  try {
    const probe = await withTimeout(channel.request<ProbeReply>({ type: 'probe', backend: 'webgpu' }), PROBE_TIMEOUT_MS, 'the compute renderer');
    const adapter = probe.adapter ?? null;
    const allowSoftware = options.allowFallbackAdapter ?? env.MOCO_WEBGPU_ALLOW_FALLBACK === '1';
    if (adapter && (!adapter.software || allowSoftware)) {
      const local = await chooseBackend({ preferred: 'wasm', env });
      return {
        name: 'webgpu',
        adapter,
        customKernels: local.customKernels,
        attempts: [{ name: 'webgpu', ok: true, reason: `in the compute renderer (Chromium's WebGPU) on ${formatAdapter(adapter)}; the trainer keeps data and checkpoints on wasm` }],
      };
    }
    attempt = { name: 'webgpu', ok: false, reason: adapter ? `the compute renderer has only a software WebGPU adapter (${formatAdapter(adapter)}), slower than wasm; set MOCO_WEBGPU_ALLOW_FALLBACK=1 to use it anyway` : 'the compute renderer reported no WebGPU adapter' };
  } catch (error) {
    attempt = { name: 'webgpu', ok: false, reason: `compute renderer: ${error instanceof Error ? error.message : String(error)}` };
  }
  const rest = await chooseBackend(options); // Dawn is refused in Electron, so webgpu falls back to wasm
  return { ...rest, attempts: [attempt, ...rest.attempts.filter((a) => a.name !== 'webgpu')] };
}

/** The compute host of a webgpu run in the compute renderer. */
export function openRendererCompute(config: TrainingConfig): Promise<WorkerPoolHost> {
  const open = channel;
  if (!open) throw new Error('no compute renderer: webgpu runs in the desktop app only through its compute renderer');
  return WorkerPoolHost.create({
    moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: config.batchSize,
    workers: 1, backend: 'webgpu', sharedMemory: false, kind: 'renderer',
    openChannel: () => open,
  });
}
