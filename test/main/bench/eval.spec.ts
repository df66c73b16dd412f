/**
 * `npm run eval`'s CI form, end to end (issue 10): builds a real labelled folder from the Adwaita
 * icon theme, trains it through the real CLI and trainer process, and scores test against train.
 * The run has a fixed seed and a fixed number of steps, so the comparison is deterministic.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');

describe('npm run eval --ci', () => {
  const homes: string[] = [];
  afterAll(async () => {
    for (const h of homes) await rm(h, { recursive: true, force: true });
  });

  // .ci/run installs the icons, so CI always runs this; elsewhere it needs adwaita-icon-theme.
  it.skipIf(!existsSync('/usr/share/icons/Adwaita/48x48') && process.env.CI === undefined)('trains a real folder and beats the random-init encoder', async () => {
    const home = await mkdtemp(join(tmpdir(), 'moco-eval-'));
    homes.push(home);
    const markdown = join(home, 'table.md');
    const { stdout } = await run(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'main/bench/eval/run.ts', '--ci', '--cache', home, '--markdown', markdown], { cwd: ROOT, timeout: 280_000, maxBuffer: 1 << 24 });
    const report = JSON.parse(stdout) as { folders: { folder: string; trainImages: number; testImages: number; steps: number; pixels: { k20: number; k200: number }; randomInit: { k20: number; k200: number }; trained: { k20: number; k200: number }; curve: unknown[] }[] };
    const [result] = report.folders;
    console.log(`eval --ci: ${JSON.stringify(result && { pixels: result.pixels, randomInit: result.randomInit, trained: result.trained, steps: result.steps })}`);
    expect(result).toMatchObject({ folder: 'adwaita-symbolic' });
    expect(result!.trainImages).toBeGreaterThan(300);
    expect(result!.testImages).toBeGreaterThan(120);
    expect(result!.steps).toBe(144); // finished its fixed epochs, not stopped by the cap: the comparison is deterministic
    expect(result!.curve.length).toBeGreaterThan(0);
    expect(result!.trained.k20).toBeGreaterThan(result!.randomInit.k20);
    expect(result!.trained.k200).toBeGreaterThan(result!.randomInit.k200);
    expect(existsSync(markdown)).toBe(true);
  });
});
