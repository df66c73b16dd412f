/**
 * Parity with PyTorch (issue 11): each committed fixture (both torch.save formats, torchvision and
 * official-MoCo layouts, float16/float64 storage) is read by our pure-TypeScript reader, mapped to
 * our encoder, run in eval mode on the fixed input, and compared with PyTorch's own outputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignEncoderVariables } from '../../../main/ml/initial-weights.js';
import { Encoder } from '../../../main/ml/resnet.js';
import { readTorchCheckpoint } from '../../../main/interop/torch-checkpoint.js';
import { importTorchModel } from '../../../main/interop/torch-import.js';
import { useBackend } from '../../helpers/backend.js';
import { EXPECTED, fixedInputNchw, fixtureBytes, maxAbsDifference, toNhwc, type ExpectedOutputs } from './fixtures.js';

const TOLERANCE = 1e-4;
const report: Record<string, { format: string; layout: string; architecture: string; features: number; output: number }> = {};

function compare(encoder: Encoder, inputShape: readonly number[], expected: ExpectedOutputs): { features: number; output: number } {
  const [n, c, h, w] = inputShape as [number, number, number, number];
  return tf.tidy(() => {
    const x = tf.tensor4d(toNhwc(fixedInputNchw(inputShape), inputShape), [n, h, w, c]);
    const features = encoder.features(x, 'eval').dataSync();
    const output = encoder.apply(x, 'eval').dataSync();
    return { features: maxAbsDifference(features, expected.features.flat()), output: maxAbsDifference(output, expected.output.flat()) };
  });
}

describe('PyTorch checkpoints: our embeddings equal PyTorch\'s', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(() => {
    // The parity figures for the record (issue 11's measure of done).
    console.log(`parity (max abs difference, PyTorch ${EXPECTED.torch}):\n${JSON.stringify(report, null, 1)}`);
  });

  for (const [name, expected] of Object.entries(EXPECTED.fixtures)) {
    it(name, () => {
      const model = importTorchModel(readTorchCheckpoint(fixtureBytes(name), name), name);
      expect(model.format).toBe(name.includes('legacy') ? 'legacy' : 'zip');
      expect(model.layout).toBe(name.startsWith('moco') ? 'moco' : 'torchvision');
      const config = { ...model.shape, bnSplits: 1 };
      const before = tf.memory().numTensors;
      const query = Encoder.create(config, 1);
      assignEncoderVariables(query, model.query, name);
      const q = compare(query, expected.inputShape, expected.query);
      query.dispose();
      report[name] = { format: model.format, layout: model.layout, architecture: `${model.shape.architecture}${model.shape.smallImageStem ? ' small stem' : ''} ${model.shape.head}`, ...q };
      expect(q.features).toBeLessThan(TOLERANCE);
      expect(q.output).toBeLessThan(TOLERANCE);
      if (expected.key) {
        expect(model.key).not.toBeNull();
        const key = Encoder.create(config, 1);
        assignEncoderVariables(key, model.key!, name);
        const k = compare(key, expected.inputShape, expected.key);
        key.dispose();
        expect(k.features).toBeLessThan(TOLERANCE);
        expect(k.output).toBeLessThan(TOLERANCE);
        expect(model.queue?.shape).toEqual(expected.queueShape);
        expect(model.queuePointer).toBe(expected.queuePointer);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
