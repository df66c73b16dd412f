/**
 * The desktop app's GPU route without Electron (issue 8): the compute page (main/compute-page),
 * bundled by esbuild from the same TypeScript, runs one MoCo compute replica on Debian
 * Chromium's own WebGPU (headless, --enable-unsafe-webgpu: a SwiftShader adapter here), driven by
 * this Node process through the very coordinator the worker pool uses (WorkerPoolHost, W=1,
 * no shared memory). The transport is a WebSocket carrying binary frames, standing in for the
 * app's MessagePort (both are MessageEndpoints, main/ml/replica-transport.ts).
 * The step must agree with the Node wasm step from the same seed.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ComputeHost } from '../../main/ml/compute-host.js';
import { InProcessHost } from '../../main/ml/in-process-host.js';
import { decodeFrame, encodeFrame } from '../../main/ml/binary-frame.js';
import { EndpointReplicaChannel, type MessageEndpoint } from '../../main/ml/replica-transport.js';
import type { ModelState } from '../../main/ml/training-state.js';
import { MocoTrainer, type StepReport } from '../../main/ml/trainer.js';
import { WorkerPoolHost } from '../../main/ml/worker-pool-host.js';
import { useBackend } from '../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../helpers/tiny-training.js';
import { ROOT, chromiumAvailable } from './harness.js';

const config = tinyTrainingConfig();
const images = tinySampleImages(2); // 20 images: 2 steps of 8

/**
 * Tolerance, as test/main/ml/webgpu.spec.ts states it for Dawn in Node: float32 kernels that sum
 * in another order. Weights, queue and velocities are O(0.1-1); 1e-4 absolute catches any wrong
 * kernel or a missed round (one more step moves them by > 1e-3).
 */
const TOLERANCE = 1e-4;
const CHROMIUM_WEBGPU_ARGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function groupOf(name: string): string {
  if (name === 'queue') return 'queue';
  if (name.startsWith('sgd/velocity/')) return 'SGD velocity (gradients)';
  if (/running|moving/i.test(name)) return 'BatchNorm buffers';
  return name.startsWith('key/') ? 'key encoder (momentum update)' : 'query parameters';
}

/** Max absolute difference per group of tensors. */
function differences(a: ModelState, b: ModelState): Map<string, number> {
  expect(a.tensors.map((t) => t.name)).toEqual(b.tensors.map((t) => t.name));
  const out = new Map<string, number>();
  for (const [i, t] of a.tensors.entries()) {
    const other = b.tensors[i]!.values;
    let max = 0;
    for (let j = 0; j < t.values.length; j++) max = Math.max(max, Math.abs(t.values[j]! - other[j]!));
    out.set(groupOf(t.name), Math.max(out.get(groupOf(t.name)) ?? 0, max));
  }
  return out;
}

async function run(host: ComputeHost, trainer: MocoTrainer, steps: number): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (let i = 0; i < steps; i++) reports.push(await trainer.trainStepOn(host, images));
  return reports;
}

/** A WebSocket as a MessageEndpoint (binary frames), the Node end of the page's transport. */
function socketEndpoint(socket: WebSocket): MessageEndpoint {
  return {
    postMessage: (message) => { socket.send(encodeFrame(message)); },
    onMessage: (listener) => { socket.on('message', (data: Buffer) => { listener(decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))); }); },
    onClose: (listener) => { socket.on('close', (code) => { listener(`socket closed (${code})`); }); },
    close: () => { socket.close(); },
  };
}

/** Serves the bundled page and accepts its socket. */
async function serve(dir: string): Promise<{ server: Server; url: string; socketOrigin: string; connection: Promise<WebSocket> }> {
  const files: Record<string, string> = { '/compute.html': 'text/html', '/compute.js': 'text/javascript' };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const type = files[path];
    if (!type) { response.writeHead(404).end(); return; }
    response.writeHead(200, { 'Content-Type': type }).end(readFileSync(join(dir, path.slice(1))));
  });
  const sockets = new WebSocketServer({ server, path: '/replica', maxPayload: 256 * 1024 * 1024 });
  const connection = new Promise<WebSocket>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the compute page did not connect within 30 s (see its console: CSP, WebSocket)')); }, 30_000);
    sockets.once('connection', (socket) => { clearTimeout(timer); resolve(socket); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no server address');
  const base = `127.0.0.1:${address.port}`;
  return { server, url: `http://${base}/compute.html?socket=${encodeURIComponent(`ws://${base}/replica`)}`, socketOrigin: `ws://${base}`, connection };
}

describe.skipIf(!chromiumAvailable)('compute page on Chromium WebGPU (the desktop GPU route)', () => {
  let dir: string;
  let browser: Browser | undefined;
  let page: Page;
  let server: Server | undefined;
  let host: WorkerPoolHost | null = null;
  let adapterReason: string | null = null; // set when the browser has no WebGPU adapter

  beforeAll(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'moco-compute-page-'));
    await build({ entryPoints: [join(ROOT, 'test/e2e/compute-page-websocket.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'chrome120', outfile: join(dir, 'compute.js'), logLevel: 'error' });
    // The page the app ships, with this test's entry in place of the app's (same file name).
    const served = await serve(dir);
    // The page the app ships (its CSP allows no connections at all: the app's transport is a
    // MessagePort), plus this test's socket in connect-src.
    const html = readFileSync(join(ROOT, 'main/compute-page/compute.html'), 'utf8');
    expect(html).toContain("default-src 'none'; script-src 'self'");
    writeFileSync(join(dir, 'compute.html'), html.replace("script-src 'self'", `script-src 'self'; connect-src ${served.socketOrigin}`));
    server = served.server;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_WEBGPU_ARGS, headless: true });
    page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      console.log(`[compute page] ${message.text()}`);
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(served.url);
    adapterReason = await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      if (!gpu) return 'navigator.gpu is undefined (WebGPU disabled in this Chromium)';
      return (await gpu.requestAdapter()) ? null : 'navigator.gpu.requestAdapter() gave no adapter (no Vulkan/SwiftShader for Chromium)';
    });
    if (adapterReason) {
      console.warn(`compute-renderer.spec skipped: ${adapterReason}`);
      return;
    }
    const socket = await served.connection;
    const opening = performance.now();
    host = await WorkerPoolHost.create({
      moco: config.moco, sgd: config.sgd, seed: config.seed, batchSize: config.batchSize,
      workers: 1, backend: 'webgpu', sharedMemory: false, kind: 'renderer',
      openChannel: () => new EndpointReplicaChannel(socketEndpoint(socket), 'compute page'),
    });
    console.log(`compute page: init (webgpu backend, model) ${Math.round(performance.now() - opening)} ms`);
    expect(errors).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    await host?.dispose();
    await browser?.close();
    await new Promise<void>((resolve) => { if (server) server.close(() => { resolve(); }); else resolve(); });
    rmSync(dir, { recursive: true, force: true });
  });

  it('one MoCo step in the page equals the Node wasm step: loss, gradients, momentum update, queue', async (context) => {
    if (!host) { context.skip(`no WebGPU adapter in Chromium: ${adapterReason ?? 'unknown'}`); return; }
    expect(host.kind).toBe('renderer');
    console.log(`compute page adapter: ${JSON.stringify(host.adapter)}`);
    expect(host.adapter).toMatchObject({ software: true }); // SwiftShader here; a real GPU elsewhere

    const local = new MocoTrainer(config);
    const wasmHost = new InProcessHost(local.moco, local.optimizer);
    const [reference] = await run(wasmHost, local, 1);
    const referenceState = await wasmHost.exportState();

    const started = performance.now();
    const remote = new MocoTrainer(config, { localModel: false });
    const [report] = await run(host, remote, 1);
    const stepped = performance.now();
    const pageState = await host.exportState();
    console.log(`compute page: first step ${Math.round(stepped - started)} ms (shader compilation included), export ${Math.round(performance.now() - stepped)} ms; loss wasm ${reference!.metrics.loss} page ${report!.metrics.loss}`);

    expect(Math.abs(report!.metrics.loss - reference!.metrics.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(reference!.metrics.loss));
    expect(report!.metrics.top1).toBe(reference!.metrics.top1);
    const diff = differences(pageState, referenceState);
    console.log(`page vs wasm: ${[...diff].map(([g, d]) => `${g} ${d.toExponential(1)}`).join(', ')}`);
    expect([...diff.keys()].sort()).toEqual(['BatchNorm buffers', 'SGD velocity (gradients)', 'key encoder (momentum update)', 'query parameters', 'queue']);
    for (const [group, d] of diff) expect(d, group).toBeLessThanOrEqual(TOLERANCE);
    expect(pageState.moco).toEqual(referenceState.moco); // queue pointer, Shuffle BN RNG

    // The comparison can fail: one more wasm step is far outside the tolerance.
    await run(wasmHost, local, 1);
    expect(Math.max(...differences(pageState, await wasmHost.exportState()).values())).toBeGreaterThan(10 * TOLERANCE);
    local.dispose();

    // No tensor leak in the page: once the trainer closes its channel the replica is disposed,
    // and nothing a step or an export made is left behind.
    await host.dispose();
    host = null;
    await expect.poll(() => page.evaluate(() => (window as unknown as { mocoComputeMemory: () => { numTensors: number } }).mocoComputeMemory().numTensors), { timeout: 10_000 }).toBe(0);
  });
});
