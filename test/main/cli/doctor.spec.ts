/**
 * `moco-studio doctor` as a user runs it (a real trainer process), and the same report through
 * the app core's backend:doctor / backend:report channels.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppCore } from '../../../main/core/app-core.js';
import { dispatchInvoke } from '../../../main/core/dispatch.js';
import { backendReportSchema } from '../../../shared/trainer-protocol.js';
import { chooseWorkers } from '../../../shared/workers.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../main/cli/bin.js');

describe('moco-studio doctor', () => {
  let home: string;
  const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { env: { ...process.env, MOCO_STUDIO_HOME: home }, timeout: 120_000, maxBuffer: 1 << 22 });

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'moco-doctor-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('prints its help and rejects a bad --seconds', async () => {
    expect((await cli(['doctor', '--help'])).stdout).toContain('Usage: moco-studio doctor [--seconds 10] [--quick]');
    expect((await cli(['--help'])).stdout).toMatch(/doctor +which TensorFlow\.js backends work here/);
    await expect(cli(['doctor', '--seconds', 'soon'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--seconds: expected a number/) as unknown });
  });

  it('--json --quick prints a report that parses, and stores it in the data directory', async () => {
    const { stdout } = await cli(['doctor', '--json', '--quick']);
    const report = backendReportSchema.parse(JSON.parse(stdout));
    expect(report.seconds).toBe(2);
    expect(report.backends.map((b) => b.name)).toEqual(['webgpu', 'tensorflow', 'wasm', 'cpu']);
    const wasm = report.backends.find((b) => b.name === 'wasm')!;
    expect(wasm.imagesPerSecond).toBeGreaterThan(0); // one thread (W=1)
    // Issue 9: the default worker count beside it, as training would choose it on these cores.
    const expectedWorkers = chooseWorkers(undefined, 8, report.workload.batchSize, 'wasm', availableParallelism()).workers;
    expect(wasm.workers).toMatchObject({ count: expectedWorkers });
    if (expectedWorkers > 1) expect(wasm.workers!.imagesPerSecond).toBeGreaterThan(0);
    else expect(wasm.workers!.imagesPerSecond).toBeNull();
    expect(stdout).not.toContain('worker threads failed');
    expect(report.fastest).not.toBeNull();
    const stored = backendReportSchema.parse(JSON.parse(await readFile(join(home, 'backend-report.json'), 'utf8')));
    expect(stored).toEqual(report);
  }, 120_000);

  it('runs through the app core contract (backend:doctor, then backend:report)', async () => {
    const dataDirectory = join(home, 'core');
    const core = new AppCore({ dataDirectory, transport: 'websocket', version: 'test' });
    expect(await dispatchInvoke(core, 'backend:report', {})).toEqual({ ok: true, response: null });
    const result = await dispatchInvoke(core, 'backend:doctor', { seconds: 1 });
    if (!result.ok) throw new Error(result.error.message);
    const report = backendReportSchema.parse(result.response);
    expect(report.seconds).toBe(1);
    expect(report.fastest).not.toBeNull();
    expect(await dispatchInvoke(core, 'backend:report', {})).toEqual({ ok: true, response: report });
    expect(await dispatchInvoke(core, 'backend:doctor', { seconds: 1000 })).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
  }, 120_000);
});
