/**
 * The backend doctor, for real: here @tensorflow/tfjs-node-gpu is not installed (the test checks
 * that first and adapts), wasm and cpu load, and wasm trains a real MoCo step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { chooseBackend, explainBackendFailure, TFJS_NODE_GPU } from '../../../main/ml/backend.js';
import { formatBackendReport, orderFromReport, preferredOrder, runBackendDoctor } from '../../../main/ml/doctor.js';
import { backendReportSchema, type BackendCheck } from '../../../shared/trainer-protocol.js';

const linux = { platform: 'linux', arch: 'x64' };

async function nodeGpuInstalled(): Promise<boolean> {
  try {
    await import(TFJS_NODE_GPU);
    return true;
  } catch {
    return false;
  }
}

describe('backend doctor', () => {
  it('reports which backends load, why not with advice, and benchmarks wasm', async () => {
    const lines: string[] = [];
    const report = await runBackendDoctor({ seconds: 1.5, log: (m) => lines.push(m) });
    expect(backendReportSchema.parse(report)).toEqual(report);
    const byName = Object.fromEntries(report.backends.map((b) => [b.name, b]));
    expect(Object.keys(byName).sort()).toEqual(['cpu', 'tensorflow', 'wasm', 'webgpu']);
    // No real GPU here: webgpu is listed as unavailable with one of the stated reasons (issue 8).
    if (byName.webgpu!.adapter?.software !== false) {
      expect(byName.webgpu).toMatchObject({ loads: false, imagesPerSecond: null });
      expect(byName.webgpu!.reason).toMatch(/no WebGPU adapter|only a software WebGPU adapter|not installed|glibc/);
      expect(byName.webgpu!.advice).not.toBeNull();
    }
    if (!(await nodeGpuInstalled())) {
      expect(byName.tensorflow).toMatchObject({ loads: false, imagesPerSecond: null });
      expect(byName.tensorflow!.reason).toMatch(/tfjs-node-gpu is not installed.*internet at install time/);
      expect(byName.tensorflow!.advice).toContain('npm install @tensorflow/tfjs-node-gpu');
    }
    expect(byName.wasm).toMatchObject({ loads: true, advice: null });
    expect(byName.wasm!.imagesPerSecond).toBeGreaterThan(0);
    expect(byName.wasm!.steps).toBeGreaterThanOrEqual(1);
    expect(byName.cpu).toMatchObject({ loads: true, imagesPerSecond: null });
    expect(byName.cpu!.benchmarkNote).toMatch(/skipped/);
    expect(report.fastest).not.toBeNull();
    expect(report.order[0]).toBe(report.fastest);
    expect(report.workload).toMatchObject({ imageSize: 32, batchSize: 16 });
    expect(lines.some((l) => l.startsWith('wasm:'))).toBe(true);
    console.log(formatBackendReport(report));

    // 'auto' honours the doctor's order (here the fastest), and says so.
    const order = orderFromReport(report);
    expect(order).toEqual(report.order);
    const choice = await chooseBackend({ env: {}, order: order! });
    expect(choice.name).toBe(report.fastest);
    expect(choice.attempts.find((a) => a.ok)!.reason).toMatch(/fastest in the backend doctor/);
    expect(tf.getBackend()).toBe(report.fastest);
  }, 60_000);

  it('checks only the backends asked for', async () => {
    const report = await runBackendDoctor({ seconds: 0.5, backends: ['wasm'] });
    expect(report.backends.map((b) => b.name)).toEqual(['wasm']);
    expect(report.order).toEqual(['wasm']);
  }, 30_000);

  it('keeps the default order without a fresh report', () => {
    const check = (name: BackendCheck['name'], loads: boolean, imagesPerSecond: number | null): BackendCheck => ({ name, loads, reason: '', advice: null, imagesPerSecond, stepMs: null, steps: 0, benchmarkNote: null });
    const checks = [check('tensorflow', false, null), check('wasm', true, 100), check('cpu', true, null)];
    expect(preferredOrder(checks)).toEqual(['wasm', 'cpu', 'tensorflow']);
    expect(preferredOrder([check('tensorflow', true, 50), check('wasm', true, 120), check('cpu', true, 0.5)])).toEqual(['wasm', 'tensorflow', 'cpu']);
    const report = {
      createdAt: '2026-01-01T00:00:00.000Z', platform: 'linux', arch: 'x64', node: 'v20', seconds: 10,
      workload: { model: 'm', imageSize: 32, batchSize: 16, queueSize: 1024 }, backends: checks, fastest: 'wasm' as const, order: preferredOrder(checks),
    };
    expect(orderFromReport(report, new Date('2026-01-02T00:00:00Z'), linux)).toEqual(['wasm', 'cpu', 'tensorflow']);
    expect(orderFromReport(report, new Date('2026-03-01T00:00:00Z'), linux)).toBeNull(); // stale
    expect(orderFromReport(report, new Date('2026-01-02T00:00:00Z'), { platform: 'darwin', arch: 'arm64' })).toBeNull(); // another machine
    expect(orderFromReport({ ...report, fastest: null }, new Date('2026-01-02T00:00:00Z'), linux)).toBeNull(); // measured nothing
  });

  it('explains load failures with advice a user can act on', () => {
    const missing = explainBackendFailure('tensorflow', new Error("Cannot find package '@tensorflow/tfjs-node-gpu' imported from /app/main/ml/backend.ts"), linux);
    expect(missing.reason).toMatch(/not installed/);
    expect(missing.advice).toContain('npm install @tensorflow/tfjs-node-gpu');

    const cuda = explainBackendFailure('tensorflow', new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory'), linux);
    expect(cuda.reason).toMatch(/CUDA 11\.2 \/ cuDNN 8\.1.*libcudart\.so\.11\.0 missing/);
    expect(cuda.advice).toMatch(/libcudnn\.so\.8/);
    const cudnn = explainBackendFailure('tensorflow', new Error('Could not load dynamic library \'libcudnn.so.8\'; dlerror: libcudnn.so.8: cannot open shared object file'), linux);
    expect(cudnn.reason).toMatch(/libcudnn\.so\.8 missing/);

    const abi = explainBackendFailure('tensorflow', new Error("The module '/app/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v8/tfjs_binding.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115. This version of Node.js requires NODE_MODULE_VERSION 128."), linux);
    expect(abi.reason).toMatch(/N-API \/ NODE_MODULE_VERSION mismatch/);
    expect(abi.advice).toMatch(/rebuild/);

    const mac = explainBackendFailure('tensorflow', new Error("Cannot find package '@tensorflow/tfjs-node-gpu'"), { platform: 'darwin', arch: 'arm64' });
    expect(mac.reason).toMatch(/Apple Silicon.*Linux x64 and Windows x64 only.*GPU path is unavailable/);
    expect(mac.advice).toMatch(/wasm/);

    expect(explainBackendFailure('wasm', new Error('boom'), linux)).toMatchObject({ reason: 'boom' });
  });
});
