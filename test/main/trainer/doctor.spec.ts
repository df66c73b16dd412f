/** The trainer's reading of the stored doctor report: the order 'auto' training passes to chooseBackend. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preferredBackendOrder } from '../../../main/trainer/doctor.js';
import type { BackendReport } from '../../../shared/trainer-protocol.js';

describe('preferredBackendOrder', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'moco-report-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  const report = (createdAt: string): BackendReport => ({
    createdAt, platform: process.platform, arch: process.arch, node: process.version, seconds: 2,
    workload: { model: 'm', imageSize: 32, batchSize: 16, queueSize: 1024 },
    backends: [
      { name: 'tensorflow', loads: false, reason: 'not installed', advice: null, imagesPerSecond: null, stepMs: null, steps: 0, benchmarkNote: null },
      { name: 'wasm', loads: true, reason: 'loads', advice: null, imagesPerSecond: 1, stepMs: 16000, steps: 1, benchmarkNote: null },
      { name: 'cpu', loads: true, reason: 'loads', advice: null, imagesPerSecond: 2, stepMs: 8000, steps: 1, benchmarkNote: null },
    ],
    fastest: 'cpu', order: ['cpu', 'wasm', 'tensorflow'],
  });

  it('follows a fresh report, ignores a stale, missing or corrupt one', async () => {
    const path = join(dir, 'backend-report.json');
    expect(await preferredBackendOrder(undefined)).toBeUndefined();
    expect(await preferredBackendOrder(path)).toBeUndefined();
    await writeFile(path, JSON.stringify(report(new Date().toISOString())));
    expect(await preferredBackendOrder(path)).toEqual(['cpu', 'wasm', 'tensorflow']);
    await writeFile(path, JSON.stringify(report('2020-01-01T00:00:00.000Z')));
    expect(await preferredBackendOrder(path)).toBeUndefined();
    await writeFile(path, '{ not json');
    expect(await preferredBackendOrder(path)).toBeUndefined();
  });
});
