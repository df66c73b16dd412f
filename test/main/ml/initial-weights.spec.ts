/** initial-weights.ts (issue 11): a fresh trainer started from another's encoders, the queue only when it fits; no tensor leaks. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialiseFromState } from '../../../main/ml/initial-weights.js';
import { exportTrainingState } from '../../../main/ml/training-state.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { toTrainingConfig } from '../../../main/trainer/training-config.js';
import { resolveSettings } from '../../../shared/training-settings.js';
import { useBackend } from '../../helpers/backend.js';

const settings = (queueSize: number, seed: number) => resolveSettings({ widthMultiplier: 1 / 16, imageSize: 16, batchSize: 8, queueSize, seed }, 200, 'wasm').settings;

describe('initialiseFromState', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('copies both encoders, takes a fitting queue of real keys, keeps a fresh one otherwise, leaks nothing', async () => {
    const source = new MocoTrainer(toTrainingConfig(settings(16, 1)));
    const state = await exportTrainingState(source);
    const withKeys = { ...state, meta: { ...state.meta, moco: { ...state.meta.moco, keysEnqueued: 16, queuePointer: 8 } } };
    const before = tf.memory().numTensors;
    const target = new MocoTrainer(toTrainingConfig(settings(16, 2)));
    const created = tf.memory().numTensors;
    expect(initialiseFromState(target, withKeys, 'test').queue).toBe('imported');
    expect(tf.memory().numTensors).toBe(created);
    const a = source.moco.queryEncoder.variables.parameter('stem.conv').dataSync();
    expect(target.moco.queryEncoder.variables.parameter('stem.conv').dataSync()).toEqual(a);
    expect(target.moco.keyEncoder.variables.parameter('stem.conv').dataSync()).toEqual(source.moco.keyEncoder.variables.parameter('stem.conv').dataSync());
    expect(target.moco.queue.dataSync()).toEqual(source.moco.queue.dataSync());
    expect(target.moco.getState().queuePointer).toBe(8);
    target.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const other = new MocoTrainer(toTrainingConfig(settings(32, 3)));
    const fresh = other.moco.queue.dataSync().slice();
    const outcome = initialiseFromState(other, withKeys, 'test');
    expect(outcome).toMatchObject({ queue: 'fresh', reason: expect.stringMatching(/\[128, 16\], this run's is \[128, 32\]/) as unknown });
    expect(other.moco.queue.dataSync()).toEqual(fresh);
    expect(initialiseFromState(other, state, 'test')).toMatchObject({ queue: 'fresh', reason: 'the source has no trained queue' });
    other.dispose();
    source.dispose();
  });

  it('refuses weights of another architecture, naming the variable, and changes nothing', async () => {
    const source = new MocoTrainer(toTrainingConfig(settings(16, 1)));
    const state = await exportTrainingState(source);
    source.dispose();
    const wider = new MocoTrainer(toTrainingConfig(resolveSettings({ widthMultiplier: 1 / 8, imageSize: 16, batchSize: 8, queueSize: 16 }, 200, 'wasm').settings));
    const weights = wider.moco.queryEncoder.variables.parameter('stem.conv').dataSync().slice();
    expect(() => initialiseFromState(wider, state, 'src')).toThrow(/src \(query encoder\): "stem\.conv" has shape \[3, 3, 3, 4\], the encoder expects \[3, 3, 3, 8\]/);
    expect(wider.moco.queryEncoder.variables.parameter('stem.conv').dataSync()).toEqual(weights);
    wider.dispose();
  });
});
