/**
 * moco-studio import / export / train --init end to end (issue 11), as a user runs them: the real
 * CLI in its own process, real fixture checkpoints, a real sample folder, real embedding and a
 * real (one-epoch) fine-tuning run on wasm. PyTorch itself is not needed here (torch-roundtrip.spec.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readlink, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importTorchRun } from '../../../main/interop/import-run.js';
import { readTorchCheckpoint } from '../../../main/interop/torch-checkpoint.js';
import { writeTorchrunJob } from '../../../main/interop/torchrun-job.js';
import { importTorchModel } from '../../../main/interop/torch-import.js';
import { floatTensor, torchSaveZip, type SaveValue } from '../../../main/interop/torch-save.js';
import { TensorRef, PickleDict } from '../../../main/interop/restricted-unpickler.js';
import { fixtureBytes } from './fixtures.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../main/cli/bin.js');

describe('moco-studio import / export', () => {
  let home: string;
  let sample: string;
  const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { env: { ...process.env, MOCO_STUDIO_HOME: home }, timeout: 400_000, maxBuffer: 1 << 24 });
  let imported: { runDirectory: string; architecture: string; head: string; layout: string; format: string; embedded: { rows: number } | null };

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'moco-interop-'));
    sample = join(home, 'sample');
    await cli(['sample', sample, '--per-class', '4']);
    await writeFile(join(home, 'moco_v2.pth.tar'), fixtureBytes('moco-v2-legacy.pth.tar.gz'));
    await writeFile(join(home, 'tv18.pth'), fixtureBytes('tv-resnet18-zip.pth.gz'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('imports an official-MoCo-layout legacy checkpoint as a run and embeds the folder without training', async () => {
    const { stdout } = await cli(['import', join(home, 'moco_v2.pth.tar'), '--folder', sample, '--name', 'mine', '--json']);
    imported = JSON.parse(stdout) as typeof imported;
    expect(imported).toMatchObject({ architecture: 'resnet18', head: 'mlp', layout: 'moco', format: 'legacy', keyEncoder: 'imported', embedded: { rows: 40 } });
    expect(imported.runDirectory).toMatch(/imported-mine$/);
    const record = JSON.parse(await readFile(join(imported.runDirectory, 'run.json'), 'utf8')) as { status: string; settings: { smallImageStem: boolean; dim: number } };
    expect(record.status).toBe('finished');
    expect(record.settings).toMatchObject({ smallImageStem: true, dim: 16 });
    const neighbours = await cli(['neighbours', imported.runDirectory, join(sample, 'circle', 'circle-000.png'), '-k', '3', '--json']);
    expect((JSON.parse(neighbours.stdout) as { neighbours: unknown[] }).neighbours).toHaveLength(3);
  });

  it('exports it in both layouts; our reader reads the exports back to the same tensors', async () => {
    for (const layout of ['torchvision', 'moco']) {
      const out = join(home, `export-${layout}.pth`);
      await cli(['export', imported.runDirectory, '--format', 'torch', '--layout', layout, '--out', out]);
      const original = importTorchModel(readTorchCheckpoint(fixtureBytes('moco-v2-legacy.pth.tar.gz'), 'original'), 'original');
      const back = importTorchModel(readTorchCheckpoint(await readFile(out), out), out);
      expect(back.format).toBe('zip');
      expect(back.layout).toBe(layout);
      for (const [name, t] of original.query) expect(back.query.get(name)?.values).toEqual(t.values);
      if (layout === 'moco') {
        for (const [name, t] of original.key!) expect(back.key?.get(name)?.values).toEqual(t.values);
        expect(back.queue?.values).toEqual(original.queue?.values);
        expect(back.queuePointer).toBe(32);
      }
    }
  });

  it('fine-tunes the import on a folder as a new run (train --init), refusing a conflicting architecture', async () => {
    await expect(cli(['train', sample, '--init', imported.runDirectory, '--arch', 'resnet50'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--init .*architecture resnet18, the options ask for resnet50/) as unknown });
    const { stdout } = await cli(['train', sample, '--init', imported.runDirectory, '--epochs', '1', '--batch', '8', '--json']);
    const summary = JSON.parse(stdout) as { ok: boolean; runDirectory: string; steps: number };
    expect(summary).toMatchObject({ ok: true, steps: 5 });
    expect(await readFile(join(summary.runDirectory, 'log.txt'), 'utf8')).toMatch(/started from the encoders of .*imported-mine.*step-000000000\.ckpt; queue fresh/);
  });

  it('names missing and unknown keys of a state dict', async () => {
    const checkpoint = readTorchCheckpoint(fixtureBytes('tv-resnet18-zip.pth.gz'), 'tv18');
    const entries = [...(checkpoint.root as PickleDict).entries].filter(([k]) => k !== 'layer2.0.bn1.running_var');
    const dict = new Map<string, SaveValue>(entries.map(([k, v]) => { const t = checkpoint.tensor(v as TensorRef); return [String(k), floatTensor(t.shape, t.values)]; }));
    dict.set('layer5.0.conv1.weight', floatTensor([1], new Float32Array(1)));
    const path = join(home, 'broken.pth');
    await writeFile(path, torchSaveZip(dict));
    // In-process (the CLI's error path is the same function; its printing is tested above).
    const runsRoot = join(home, 'runs');
    await expect(importTorchRun({ file: path, runsRoot })).rejects.toThrow(/broken\.pth: the keys do not match a resnet18, fc head\. Missing: layer2\.0\.bn1\.running_var\. Unknown: layer5\.0\.conv1\.weight/);
    await expect(importTorchRun({ file: join(home, 'nothing.pth'), runsRoot })).rejects.toThrow(/nothing\.pth: no such file/);
    const runs = await readdir(join(home, 'runs'));
    expect(runs.filter((r) => r.includes('broken'))).toEqual([]); // a failed import leaves no run behind
  });

  it('writes a main_moco.py job: symlinked ImageFolder, flags, scripts, README naming what does not carry over', async () => {
    const runDirectory = imported.runDirectory; // an imported run has settings and a folder, as a trained one
    const dir = join(home, 'job');
    const { stdout } = await cli(['export', runDirectory, '--for', 'torchrun', dir, '--nodes', '2', '--gpus-per-node', '4', '--json']);
    const job = JSON.parse(stdout) as { images: number; classes: number; flags: string[]; globalBatch: number; multiNode: string; unmapped: string[] };
    expect(job).toMatchObject({ images: 40, classes: 10, globalBatch: 512 });
    expect(await readlink(join(dir, 'data', 'train', 'circle', 'circle-000.png'))).toBe(join(sample, 'circle', 'circle-000.png'));
    expect(job.multiNode).toMatch(/--multiprocessing-distributed --world-size 2 --rank "\$RANK"/);
    expect(job.unmapped.join('\n')).toMatch(/image size: 32 px/);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toMatch(/Settings that do not carry over/);
    await expect(writeTorchrunJob({ runDirectory, directory: dir, nodes: 1, gpusPerNode: 8 })).rejects.toThrow(/job is not empty: choose a new folder/);
  });
});
