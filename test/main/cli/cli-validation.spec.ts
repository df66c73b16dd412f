/**
 * The CLI's refusals of issue 13 (item 12, item 6, item 10), as a user meets them: real
 * processes, real folders. Each refusal must name the flag and what is accepted, and make no run
 * directory; none may hang or print a raw errno.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRun, updateRunRecord } from '../../../main/core/run-store.js';
import { writeSampleDataset } from '../../../main/core/sample-dataset.js';
import { assertFlagsOf, joinNegativeValues, settingsFromFlags } from '../../../main/cli/flags.js';
import { backdateDirectories } from '../core/images/backdate.js';

const BIN = join(import.meta.dirname, '../../../main/cli/bin.js');

interface Result { code: number; stdout: string; stderr: string }

describe('moco-studio CLI validation (issue 13)', () => {
  let home: string;
  let images: string;
  const cli = (args: string[], extraEnv: Record<string, string> = {}): Promise<Result> =>
    promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, MOCO_STUDIO_HOME: home, ...extraEnv }, timeout: 120_000, maxBuffer: 1 << 24 })
      .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (error: unknown) => {
        const e = error as { code?: number; killed?: boolean; stdout: string; stderr: string };
        if (e.killed === true) throw new Error(`moco-studio ${args.join(' ')} hung (killed at the time limit)`);
        return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
      });
  const runsMade = async (): Promise<string[]> => readdir(join(home, 'runs')).catch(() => []);

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'moco-cli-validation-'));
    images = join(home, 'images');
    await writeSampleDataset(images, { perClass: 1, size: 16 }); // 10 images
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('names the flag and the accepted range; reads negative numbers as values; refuses other commands\' flags', async () => {
    const cases: [string[], RegExp][] = [
      [['--lr', '0'], /--lr 0: out of range; accepted: a number above 0 and at most 10/],
      [['--lr', '-1'], /--lr -1: out of range; accepted: a number above 0 and at most 10/],
      [['--epochs', '-1'], /--epochs -1: out of range; accepted: a whole number from 1 to 10000/],
      [['--seed', '-1'], /--seed -1: out of range; accepted: a whole number from 0 to 4294967295/],
      [['--momentum', '1'], /--momentum 1: out of range; accepted: a number at least 0 and below 1/],
      [['--checkpoint-minutes', '0'], /--checkpoint-minutes 0: out of range; accepted: a number from 0\.01 to 1440/],
      [['--arch', 'vgg'], /--arch vgg: not a choice; accepted: resnet18, resnet34, resnet50/],
      [['--port', '80'], /--port is not an option of "train" \(it belongs to serve\)/],
    ];
    // The checks themselves in this process (each CLI start costs seconds); the wiring through real CLI processes below.
    const check = (flags: string[]): void => {
      const names = ['lr', 'epochs', 'seed', 'momentum', 'checkpoint-minutes', 'arch', 'port'];
      const options = Object.fromEntries(names.map((name) => [name, { type: 'string' as const }]));
      const values = parseArgs({ args: joinNegativeValues(flags, new Set(names)), options, strict: true }).values as Record<string, string>;
      assertFlagsOf('train', values);
      settingsFromFlags(values);
    };
    for (const [flags, message] of cases) expect(() => { check(flags); }, flags.join(' ')).toThrow(message);
    for (const flags of [['--lr', '-1'], ['--port', '80']]) {
      const result = await cli(['train', images, ...flags]);
      expect(result.code, flags.join(' ')).toBe(1);
      expect(result.stderr).toMatch(cases.find(([f]) => f.join(' ') === flags.join(' '))![1]);
      expect(result.stderr).not.toMatch(/Did you forget|learningRate|Too small/);
    }
    expect((await cli(['constructor'])).stderr).toMatch(/Unknown command "constructor"/);
    expect(await runsMade()).toEqual([]);
  });

  it('refuses an empty folder, a one-image folder and a batch larger than the folder before making a run', async () => {
    const empty = join(home, 'empty');
    const one = join(home, 'one');
    await mkdir(empty);
    await mkdir(one);
    await copyFile(join(images, 'circle', (await readdir(join(images, 'circle')))[0]!), join(one, 'only.png'));
    expect((await cli(['train', empty])).stderr).toMatch(/No image in .*empty.*at least 2 images/);
    expect((await cli(['train', one])).stderr).toMatch(/has only one image \(only\.png\); .* at least 2/);
    expect((await cli(['train', images, '--batch', '64'])).stderr).toMatch(/--batch 64 is more than the 10 images in .*; use at most --batch 10/);
    // Issue 12 item 1: the check reads headers; text files named .jpg are not images.
    const textJpegs = join(home, 'text-jpegs');
    await mkdir(textJpegs);
    for (const name of ['a.jpg', 'b.jpg', 'c.jpg']) await writeFile(join(textJpegs, name), 'text, not a JPEG');
    await copyFile(join(one, 'only.png'), join(textJpegs, 'd.png'));
    expect((await cli(['train', textJpegs])).stderr).toMatch(/has only one image \(d\.png\) \(3 file\(s\) skipped: a\.jpg: not a supported image \(unrecognised contents\).*at least 2/);
    expect(await runsMade()).toEqual([]);
  });

  it('wraps errno in a sentence: a file as --run-dir, /proc (no CPU spin), a host that does not exist', async () => {
    const file = join(home, 'a-file');
    await writeFile(file, 'x');
    expect((await cli(['train', images, '--run-dir', file])).stderr).toMatch(/Cannot make the run directory .*a-file.*not a folder \(ENOTDIR\)\. Choose another path/);
    if (process.platform === 'linux') {
      const started = Date.now();
      expect((await cli(['train', images, '--run-dir', '/proc/moco-x'])).stderr).toMatch(/Cannot make the run directory \/proc\/moco-x.*Choose another path/);
      expect(Date.now() - started).toBeLessThan(30_000); // main: spins at 85 % CPU for ever
    }
    const renderer = join(home, 'renderer');
    await mkdir(renderer);
    await writeFile(join(renderer, 'index.html'), '<!doctype html>');
    const serve = await cli(['serve', '--host', '256.1.1.1', '--no-open'], { MOCO_STUDIO_RENDERER: renderer });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/--host 256\.1\.1\.1: not an address or name of this machine \(ENOTFOUND\)\. Use 127\.0\.0\.1/);
  });

  it('refuses to resume a finished run (it would overwrite the summary)', async () => {
    const { directory } = await createRun({ runsRoot: join(home, 'made-by-hand'), folder: images, userSettings: {} });
    const summary = { steps: 40, finalLoss: 1.25, imagesPerSecond: 99 };
    await updateRunRecord(directory, { status: 'finished', summary });
    const result = await cli(['train', '--resume', directory]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--resume: run .* has already finished.*start a new run/);
    expect((JSON.parse(await readFile(join(directory, 'run.json'), 'utf8')) as { summary: unknown }).summary).toEqual(summary);
  });

  it('keeps every skipped file in skipped.json and prints its path', async () => {
    const folder = join(home, 'with-junk');
    await writeSampleDataset(folder, { perClass: 1, size: 16 });
    for (let i = 0; i < 25; i++) await writeFile(join(folder, 'circle', `junk-${String(i).padStart(2, '0')}.png`), 'not a png');
    await backdateDirectories(folder); // old enough for the check's stored scan to be trusted (scan-manifest.ts)
    const result = await cli(['train', folder, '--epochs', '1', '--batch', '4', '--image-size', '16', '--width', '0.125', '--backend', 'wasm', '--json']);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { runDirectory: string };
    const listed = join(summary.runDirectory, 'skipped.json');
    expect(result.stderr).toContain(`every skipped file with its reason: ${listed}`);
    expect(result.stderr).not.toMatch(/see the run's log/);
    // Issue 13 item 8: the scan's progress is printed, and the trainer reuses the check's scan (one scan per run).
    expect(result.stderr).toContain('Scanning the folder: 35 files, 11 folders, done');
    expect(result.stderr).toContain('Checking image headers: 35 / 35, done');
    expect(result.stderr).toContain('Folder scan reused from the check (35 files, 11 folders unchanged)');
    const skipped = JSON.parse(await readFile(listed, 'utf8')) as { count: number; skipped: unknown[] };
    expect(skipped.count).toBe(25);
    expect(skipped.skipped).toHaveLength(25);
  });
});
