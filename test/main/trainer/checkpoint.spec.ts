import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTrainingState, importTrainingState } from '../../../main/ml/training-state.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { checkpointStepOf, checkpointStepsToKeep, listCheckpoints, loadLatestCheckpoint, saveCheckpoint } from '../../../main/trainer/checkpoint.js';
import { useBackend } from '../../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

const config = tinyTrainingConfig();
const images = tinySampleImages(3); // 30 images: 3 steps of 8, 6 dropped

async function allWeights(trainer: MocoTrainer): Promise<Map<string, Float32Array>> {
  return new Map((await exportTrainingState(trainer)).tensors.map((t) => [t.name, t.values]));
}

function maxDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let max = 0;
  for (const [name, values] of a) {
    const other = b.get(name)!;
    for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]! - other[i]!));
  }
  return max;
}

describe('checkpoints', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'moco-ckpt-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Same backend, same order of floating-point operations: resuming must be bit-for-bit the
  // same run. Tolerance 0 would hold today; 1e-6 leaves room for a backend that reorders sums.
  it('2 epochs straight equal 1 epoch + checkpoint + resume + 1 epoch, and so does a stop mid-epoch', async () => {
    const straight = new MocoTrainer(config);
    await straight.trainEpoch(images);
    await straight.trainEpoch(images);
    const expected = await allWeights(straight);

    const first = new MocoTrainer(config);
    await first.trainEpoch(images);
    await saveCheckpoint(join(dir, 'a'), config, await exportTrainingState(first));
    first.dispose();
    const resumed = new MocoTrainer(config);
    const { checkpoint } = await loadLatestCheckpoint(join(dir, 'a'));
    importTrainingState(resumed, checkpoint!.state);
    expect(resumed.epoch).toBe(1);
    await resumed.trainEpoch(images);
    expect(maxDifference(await allWeights(resumed), expected)).toBeLessThanOrEqual(1e-6);

    const interrupted = new MocoTrainer(config);
    await interrupted.trainEpoch(images);
    await interrupted.trainStep(images); // stop after the first step of epoch 2
    await saveCheckpoint(join(dir, 'b'), config, await exportTrainingState(interrupted));
    interrupted.dispose();
    const continued = new MocoTrainer(config);
    importTrainingState(continued, (await loadLatestCheckpoint(join(dir, 'b'))).checkpoint!.state);
    expect(continued.stepInEpoch).toBe(1);
    await continued.trainEpoch(images);
    expect(maxDifference(await allWeights(continued), expected)).toBeLessThanOrEqual(1e-6);
    // and the comparison can fail: one more step moves the weights
    await continued.trainStep(images);
    expect(maxDifference(await allWeights(continued), expected)).toBeGreaterThan(1e-6);
    [straight, resumed, continued].forEach((t) => { t.dispose(); });
  });

  it('refuses a truncated or corrupted checkpoint with a clear reason and falls back to the previous one', async () => {
    const trainer = new MocoTrainer(config);
    const d = join(dir, 'c');
    await trainer.trainStep(images);
    const older = await saveCheckpoint(d, config, await exportTrainingState(trainer));
    await trainer.trainStep(images);
    const newer = await saveCheckpoint(d, config, await exportTrainingState(trainer));
    expect(await listCheckpoints(d)).toEqual([older, newer]);

    const size = (await readFile(newer)).length;
    await truncate(newer, Math.floor(size / 2));
    let latest = await loadLatestCheckpoint(d);
    expect(latest.checkpoint?.path).toBe(older);
    expect(latest.checkpoint?.state.meta.globalStep).toBe(1);
    expect(latest.rejected[0]).toMatchObject({ path: newer, reason: expect.stringMatching(/checksum mismatch|truncated/) as unknown });

    const bytes = await readFile(older);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100]! + 1) % 256; // flip one byte of tensor data
    await writeFile(older, bytes);
    latest = await loadLatestCheckpoint(d);
    expect(latest.checkpoint).toBeNull();
    expect(latest.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/checksum/), expect.stringMatching(/checksum/)]);
    await writeFile(join(d, 'step-000000009.ckpt'), 'not a checkpoint at all, just a text file that happens to carry the right name');
    expect((await loadLatestCheckpoint(d)).rejected[0]?.reason).toMatch(/bad magic/);
    trainer.dispose();
  });

  it('keeps checkpoints spread over the run: the random start, one per power-of-two range of steps, and the two newest', () => {
    const kept = (steps: number[]) => [...checkpointStepsToKeep(steps)].sort((a, b) => a - b);
    // 480 steps in 40 epochs of 12 (issue 12: only 456/468/480 were kept before).
    const epochs = Array.from({ length: 41 }, (_, e) => 12 * e);
    expect(kept(epochs)).toEqual([0, 12, 24, 36, 72, 132, 264, 468, 480]);
    // Stable as the run grows: every step kept at 480 is kept later too, except a "newest" one (468).
    const later = kept([...epochs, 492, 504]);
    expect(kept(epochs).filter((s) => s !== 468 && s !== 480).every((s) => later.includes(s))).toBe(true);
    expect(kept([5])).toEqual([5]);
    expect(kept([])).toEqual([]);
    expect(checkpointStepsToKeep(Array.from({ length: 100_001 }, (_, i) => i)).size).toBeLessThanOrEqual(20);
  });

  it('saveCheckpoint applies that retention on disk, keeping the newest and step 0 through a run of saves', async () => {
    const trainer = new MocoTrainer(config);
    const d = join(dir, 'd');
    await saveCheckpoint(d, config, await exportTrainingState(trainer)); // the random start
    for (let i = 0; i < 5; i++) {
      await trainer.trainStep(images);
      await saveCheckpoint(d, config, await exportTrainingState(trainer));
    }
    expect((await listCheckpoints(d)).map((p) => p.slice(-19))).toEqual(['step-000000000.ckpt', 'step-000000001.ckpt', 'step-000000002.ckpt', 'step-000000004.ckpt', 'step-000000005.ckpt']);
    expect(checkpointStepOf(join(d, 'step-000000004.ckpt'))).toBe(4);
    expect(() => checkpointStepOf(join(d, 'notes.txt'))).toThrow(/not a checkpoint file name/);
    trainer.dispose();
  });

  it('refuses a checkpoint of a different architecture without touching the model', async () => {
    const trainer = new MocoTrainer(config);
    const wider = new MocoTrainer({ ...config, moco: { ...config.moco, encoder: { ...config.moco.encoder, widthMultiplier: 1 / 8 } } });
    const before = await allWeights(trainer);
    const widerState = await exportTrainingState(wider);
    expect(() => { importTrainingState(trainer, widerState); }).toThrow(/has shape \[.*\], the model expects/);
    expect(maxDifference(await allWeights(trainer), before)).toBe(0);
    trainer.dispose();
    wider.dispose();
  });
});
