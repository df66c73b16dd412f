import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InProcessHost } from '../../../main/ml/in-process-host.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { UnsupervisedMonitor } from '../../../main/trainer/unsupervised-monitor.js';
import { useBackend } from '../../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

describe('UnsupervisedMonitor (issue 10 Deliver 3: progress without labels)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('measures uniformity, then neighbour agreement against the previous epoch, through a real encoder, without leaking', async () => {
    const images = tinySampleImages(2); // 20 images, labels unused
    const trainer = new MocoTrainer(tinyTrainingConfig());
    const host = new InProcessHost(trainer.moco, trainer.optimizer);
    try {
      const monitor = new UnsupervisedMonitor(images, 16);
      expect(monitor.usable).toBe(true);
      const first = await monitor.measure(host);
      expect(first.images).toBe(20);
      expect(first.neighbourAgreement).toBeNull();
      expect(first.uniformity).toBeLessThan(0);
      expect(first.uniformity).toBeGreaterThan(-8);
      const before = tf.memory().numTensors;
      // Same weights: the neighbourhoods are exactly the same.
      const again = await monitor.measure(host);
      expect(again.neighbourAgreement).toBe(1);
      expect(again.uniformity).toBeCloseTo(first.uniformity, 5);
      expect(tf.memory().numTensors).toBe(before);
      // After training steps they move.
      for (let i = 0; i < 2; i++) await trainer.trainStepOn(host, images);
      const trained = await monitor.measure(host);
      expect(trained.neighbourAgreement).toBeGreaterThanOrEqual(0);
      expect(trained.neighbourAgreement).toBeLessThan(1);
    } finally {
      trainer.dispose();
    }
  }, 120_000);

  it('is not usable with too few images for 10 neighbours', () => {
    expect(new UnsupervisedMonitor(tinySampleImages(1), 16).usable).toBe(false);
  });
});
