/**
 * The compute page (issue 8): a browser context that runs one MoCo compute replica on the
 * browser's own WebGPU (tfjs-backend-webgpu), answering the trainer's compute-protocol requests
 * over a MessageEndpoint. In the desktop app it is the hidden, sandboxed renderer
 * (main/electron/compute-window.ts; port from its preload, electron-entry.ts); in CI it is
 * Debian Chromium under Playwright, over a WebSocket (test/e2e/compute-renderer.spec.ts).
 * The step itself is main/ml/compute-replica.ts, the same one the wasm workers run.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { ReplicaSetup } from '../ml/compute-protocol.js';
import { serveReplica, type MessageEndpoint } from '../ml/replica-transport.js';
import type { ReplicaAdapter } from '../../shared/compute-channel.js';

/** The subset of the WebGPU API this page reads (no @webgpu/types dependency). */
interface GpuAdapterLike {
  readonly isFallbackAdapter?: boolean;
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
}
interface GpuLike { requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null> }

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/** The page's adapter, described as the Node webgpu backend describes Dawn's. */
export async function describeAdapter(): Promise<ReplicaAdapter> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) throw new Error('this browser context has no WebGPU (navigator.gpu is undefined): Chromium needs WebGPU enabled (--enable-unsafe-webgpu on Linux) and a secure context');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter in this browser context: the GPU is blocklisted or its driver is missing (chrome://gpu says why)');
  const info = adapter.info ?? {};
  const isFallbackAdapter = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  const report = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  const software = isFallbackAdapter || SOFTWARE.test(`${report.vendor} ${report.architecture} ${report.description}`);
  return { ...report, isFallbackAdapter, software, dawnBackend: 'default' };
}

let adapter: ReplicaAdapter | null = null;

async function useWebGpu(backend: ReplicaSetup['backend']): Promise<void> {
  if (backend !== 'webgpu') throw new Error(`compute page: backend ${backend} was asked for; this page runs webgpu only`);
  adapter ??= await describeAdapter();
  if (tf.getBackend() === 'webgpu') return;
  if (!(await tf.setBackend('webgpu'))) throw new Error('compute page: tfjs-backend-webgpu failed to initialise on this adapter');
  await tf.ready();
}

/** Serves one replica over `endpoint` until it closes; init and probe replies carry the adapter. */
export function startComputePage(endpoint: MessageEndpoint): void {
  serveReplica(endpoint, { prepare: useWebGpu, describe: () => (adapter ? { adapter } : {}) });
}
