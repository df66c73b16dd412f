/**
 * Augmentation on worker threads (issue 8) makes the views the trainer thread would: the same
 * draws in the same RNG order, the same pixels bit for bit, at 1 and 2 workers, v1 and v2, on
 * images of several sizes and aspect ratios (so crop fallbacks and blur both occur).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateSampleImage } from '../../../main/core/sample-images.js';
import { defaultAugmentationConfig, type RgbImage } from '../../../main/ml/augment.js';
import { makeTwoCropPixels } from '../../../main/ml/batches.js';
import { InProcessHost } from '../../../main/ml/in-process-host.js';
import { Rng } from '../../../main/ml/rng.js';
import { MocoTrainer, type StepReport } from '../../../main/ml/trainer.js';
import { AugmentPool } from '../../../main/trainer/augment-pool.js';
import { augmentWorkersFrom } from '../../../main/trainer/compute-hosts.js';
import { useBackend } from '../../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

/** Mixed sizes, one very wide (RandomResizedCrop's fallback) and one tiny. */
function images(): RgbImage[] {
  const out: RgbImage[] = [];
  for (let i = 0; i < 20; i++) out.push(generateSampleImage('star', i, 40 + (i % 5) * 17, 3));
  out.push({ width: 200, height: 6, data: new Uint8Array(200 * 6 * 3).map((_, j) => (j * 7) % 256) });
  out.push({ width: 3, height: 3, data: new Uint8Array(27).fill(128) });
  return out;
}

const pools: AugmentPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.dispose()));
});

describe('augmentation worker pool', () => {
  it.each([[1, 'v2'], [2, 'v2'], [2, 'v1']] as const)('%i worker(s), %s: the same views, params and RNG state as the trainer thread', async (workers, preset) => {
    const pool = AugmentPool.start(workers);
    pools.push(pool);
    const all = images();
    const config = defaultAugmentationConfig(preset, 24);
    const indices = Int32Array.from([21, 3, 20, 7, 7, 0, 15, 11, 19, 2, 20]);
    const here = new Rng(11);
    const there = new Rng(11);
    for (let batch = 0; batch < 3; batch++) {
      const expected = makeTwoCropPixels(all, indices, config, here);
      const promise = pool.twoCropPixels(all, indices, config, there);
      expect(there.getState()).toEqual(here.getState()); // every draw made before the promise returns
      const got = await promise;
      expect(got.params).toEqual(expected.params);
      expect(Buffer.from(got.queryPixels.buffer).equals(Buffer.from(expected.queryPixels.buffer))).toBe(true);
      expect(Buffer.from(got.keyPixels.buffer).equals(Buffer.from(expected.keyPixels.buffer))).toBe(true);
    }
    expect(makeTwoCropPixels(all, indices, config, here).params.some((p) => p.query.cropFallback)).toBe(true);
  });

  it('a bad image is an error naming it, and the pool keeps serving', async () => {
    const pool = AugmentPool.start(2);
    pools.push(pool);
    const bad: RgbImage = { width: 4, height: 4, data: new Uint8Array(5) };
    await expect(pool.twoCropPixels([bad, ...images()], [1, 0], defaultAugmentationConfig('v2', 8), new Rng(1))).rejects.toThrow(/data has 5 bytes/);
    const ok = await pool.twoCropPixels(images(), [1, 2], defaultAugmentationConfig('v2', 8), new Rng(1));
    expect(ok.queryPixels.length).toBe(2 * 8 * 8 * 3);
  });

  it('a run whose views the pool renders is the run the trainer thread gives: losses, batches, data RNG', async () => {
    await useBackend('wasm');
    const pool = AugmentPool.start(2);
    pools.push(pool);
    const images = tinySampleImages(3);
    const run = async (views?: AugmentPool): Promise<{ reports: StepReport[]; rng: readonly number[] }> => {
      const trainer = new MocoTrainer(tinyTrainingConfig(), views ? { views } : {});
      const host = new InProcessHost(trainer.moco, trainer.optimizer);
      const reports: StepReport[] = [];
      for (let i = 0; i < 4; i++) reports.push(await trainer.trainStepOn(host, images)); // crosses an epoch (3 steps each)
      const rng = trainer.dataSideState().dataRng;
      trainer.dispose();
      return { reports, rng };
    };
    const here = await run();
    const there = await run(pool);
    expect(there.reports.map((r) => r.metrics.loss)).toEqual(here.reports.map((r) => r.metrics.loss));
    expect(there.reports.map((r) => Array.from(r.indices))).toEqual(here.reports.map((r) => Array.from(r.indices)));
    for (const [i, r] of there.reports.entries()) expect(Buffer.from(r.batch.keyPixels.buffer).equals(Buffer.from(here.reports[i]!.batch.keyPixels.buffer))).toBe(true);
    expect(there.rng).toEqual(here.rng);
  });

  it('MOCO_AUGMENT_WORKERS: unset is the trainer thread; a bad value is refused naming it', () => {
    expect(augmentWorkersFrom({})).toBe(0);
    expect(augmentWorkersFrom({ MOCO_AUGMENT_WORKERS: '2' })).toBe(2);
    expect(() => augmentWorkersFrom({ MOCO_AUGMENT_WORKERS: 'two' })).toThrow(/MOCO_AUGMENT_WORKERS/);
  });
});
