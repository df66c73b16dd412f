/**
 * The CLI end to end, as a user runs it: real processes, real files, real training on wasm.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../main/cli/bin.js');

describe('moco-studio CLI', () => {
  let home: string;
  let sample: string;
  const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { env: { ...process.env, MOCO_STUDIO_HOME: home }, timeout: 400_000, maxBuffer: 1 << 24 });

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'moco-cli-'));
    sample = join(home, 'sample');
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('prints help for every command', async () => {
    const main = await cli(['--help']);
    expect(main.stdout).toMatch(/Usage: moco-studio <command>/);
    for (const command of ['train', 'embed', 'neighbours', 'knn', 'sample']) {
      const { stdout } = await cli([command, '--help']);
      expect(stdout).toContain(`Usage: moco-studio ${command}`);
    }
  });

  it('rejects bad input with a message naming the problem, not a stack trace', async () => {
    await expect(cli(['train', join(home, 'missing-folder')])).rejects.toMatchObject({ stderr: expect.stringMatching(/Folder not found: .*missing-folder/) as unknown });
    await expect(cli(['train', home, '--batch', 'many'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--batch: expected a number, got "many"/) as unknown });
    await expect(cli(['train', home, '--arch', 'vgg'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--arch vgg: not a choice; accepted: resnet18/) as unknown });
    await expect(cli(['frobnicate'])).rejects.toMatchObject({ stderr: expect.stringMatching(/Unknown command "frobnicate"/) as unknown });
  });

  it('trains on the sample set, learns (kNN above random init), embeds and finds neighbours', async () => {
    const written = await cli(['sample', sample, '--per-class', '16', '--size', '48']);
    expect(written.stdout).toMatch(/160 images in 10 classes/);
    expect((await readdir(sample)).length).toBe(10);

    const trained = await cli(['train', sample, '--epochs', '12', '--batch', '16', '--json']);
    const summary = JSON.parse(trained.stdout) as Record<string, unknown>;
    console.log(`CLI run: kNN top-1 ${String(summary.knnTop1)} after ${String(summary.steps)} steps, ${String(summary.knnTop1AtStart)} at random init; ${String(summary.imagesPerSecond)} img/s`);
    expect(summary).toMatchObject({ ok: true, imagesUsed: 160, imagesSkipped: 0, epochs: 12, steps: 120, backend: 'wasm' });
    expect(summary.knnTop1).toBeGreaterThan(summary.knnTop1AtStart as number);
    const runDirectory = summary.runDirectory as string;
    expect((await readdir(join(runDirectory, 'checkpoints'))).filter((f) => f.endsWith('.ckpt')).length).toBeGreaterThan(0);
    expect(await readdir(join(runDirectory, 'embeddings'))).toEqual(expect.arrayContaining(['embeddings.f32', 'embeddings.json']));

    const inside = JSON.parse((await cli(['neighbours', runDirectory, join(sample, 'star', 'star-003.png'), '-k', '5', '--json'])).stdout) as { neighbours: { path: string; similarity: number }[] };
    expect(inside.neighbours).toHaveLength(5);
    expect(inside.neighbours.map((n) => n.path)).not.toContain('star/star-003.png');
    expect(inside.neighbours[0]!.similarity).toBeGreaterThanOrEqual(inside.neighbours[4]!.similarity);

    // an image from outside the folder goes through the encoder in a trainer process
    const outside = join(home, 'outside');
    await cli(['sample', outside, '--per-class', '1', '--size', '48', '--seed', '99']);
    const external = JSON.parse((await cli(['neighbours', runDirectory, join(outside, 'ring', 'ring-000.png'), '--json'])).stdout) as { query: string; neighbours: unknown[] };
    expect(external.query).toMatch(/outside the folder/);
    expect(external.neighbours).toHaveLength(10);

    const embedded = await cli(['embed', runDirectory]);
    expect(embedded.stdout).toMatch(/Embedded 160 images/);

    const knn = JSON.parse((await cli(['knn', runDirectory, '--train', sample, '--test', outside, '--json'])).stdout) as { top1: number; testImages: number; k: number };
    expect(knn.testImages).toBe(10);
    expect(knn.top1).toBeGreaterThanOrEqual(0);
    expect(knn.k).toBe(160);
  }, 480_000); // ~60 s alone; several times that when the other spec files train beside it on 2 cores
});
