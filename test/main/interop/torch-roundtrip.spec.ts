/**
 * Round trip through real PyTorch (issue 11): a full-width torchvision resnet18 made by PyTorch is
 * imported with the CLI, our encoder's outputs are compared with PyTorch's, the run is exported
 * with the CLI in both layouts, and PyTorch loads the exports with load_state_dict(strict=True)
 * (torchvision's resnet18; the official MoCo builder when MOCO_REFERENCE_DIR points at a
 * checkout of facebookresearch/moco) and gives the same outputs.
 * Needs Debian's python3-torch and python3-torchvision (.ci/run installs them); skipped, saying
 * so, where they are missing.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialiseFromState } from '../../../main/ml/initial-weights.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { loadLatestCheckpoint } from '../../../main/trainer/checkpoint.js';
import { toTrainingConfig } from '../../../main/trainer/training-config.js';
import { readRunRecord, runPaths } from '../../../main/core/run-store.js';
import { useBackend } from '../../helpers/backend.js';
import { fixedInputNchw, maxAbsDifference, toNhwc } from './fixtures.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../../main/cli/bin.js');
const SCRIPT = join(import.meta.dirname, 'torch_roundtrip.py');
const PYTHON = '/usr/bin/python3';
const torchMissing = !existsSync(PYTHON) ? `${PYTHON} is missing` : spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status !== 0 ? 'python3-torch / python3-torchvision are not installed (apt-get install -y python3-torch python3-torchvision)' : null;
if (torchMissing) console.warn(`torch-roundtrip.spec.ts skipped: ${torchMissing}`);

describe.skipIf(torchMissing !== null)('export round trip through PyTorch', () => {
  let home: string;
  const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { env: { ...process.env, MOCO_STUDIO_HOME: home }, timeout: 400_000, maxBuffer: 1 << 24 });

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'moco-torch-'));
    await useBackend('wasm');
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('imports torchvision resnet18 with PyTorch\'s outputs, exports what PyTorch loads strictly with the same outputs', async () => {
    await run(PYTHON, [SCRIPT, 'make', home], { timeout: 300_000 });
    const expected = JSON.parse(await readFile(join(home, 'outputs.json'), 'utf8')) as { features: number[]; output: number[] };
    const { stdout } = await cli(['import', join(home, 'resnet18.pth'), '--json']);
    const imported = JSON.parse(stdout) as { runDirectory: string; architecture: string; widthMultiplier: number; smallImageStem: boolean; dim: number };
    expect(imported).toMatchObject({ architecture: 'resnet18', widthMultiplier: 1, smallImageStem: false, dim: 128 });

    // Our encoder, loaded from the imported run's checkpoint, on PyTorch's fixed input.
    const settings = (await readRunRecord(imported.runDirectory)).settings!;
    const { checkpoint } = await loadLatestCheckpoint(runPaths(imported.runDirectory).checkpoints);
    const trainer = new MocoTrainer(toTrainingConfig(settings));
    initialiseFromState(trainer, checkpoint!.state, 'imported');
    const shape = [2, 3, 64, 64];
    const ours = tf.tidy(() => {
      const x = tf.tensor4d(toNhwc(fixedInputNchw(shape), shape), [2, 64, 64, 3]);
      const encoder = trainer.moco.queryEncoder;
      return { features: encoder.features(x, 'eval').dataSync(), output: encoder.apply(x, 'eval').dataSync() };
    });
    trainer.dispose();
    const importParity = { features: maxAbsDifference(ours.features, expected.features), output: maxAbsDifference(ours.output, expected.output) };
    console.log(`full-width torchvision resnet18 (zip): max abs difference ours vs PyTorch ${JSON.stringify(importParity)}`);
    expect(importParity.features).toBeLessThan(1e-4);
    expect(importParity.output).toBeLessThan(1e-4);

    await cli(['export', imported.runDirectory, '--format', 'torch', '--out', join(home, 'exported.pth')]);
    await cli(['export', imported.runDirectory, '--format', 'torch', '--layout', 'moco', '--out', join(home, 'exported-moco.pth.tar')]);
    const check = await run(PYTHON, [SCRIPT, 'check', home], { timeout: 300_000 });
    const result = JSON.parse(check.stdout.trim().split('\n').pop()!) as { torchvision_strict: boolean; features_max_abs_diff: number; output_max_abs_diff: number; moco_strict: boolean; moco_builder: string; moco_query_features_max_abs_diff: number };
    console.log(`PyTorch loading our exports: ${JSON.stringify(result)}`);
    expect(result.torchvision_strict).toBe(true);
    expect(result.moco_strict).toBe(true);
    // The export carries the imported float32 values unchanged: PyTorch's outputs are PyTorch's own.
    expect(result.features_max_abs_diff).toBe(0);
    expect(result.output_max_abs_diff).toBe(0);
    expect(result.moco_query_features_max_abs_diff).toBe(0);
  });
});
