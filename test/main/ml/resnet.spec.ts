import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, Encoder, type EncoderConfig } from '../../../main/ml/resnet.js';
import { useBackend } from '../../helpers/backend.js';

const tiny = (over: Partial<EncoderConfig>): EncoderConfig => ({
  architecture: 'resnet18', widthMultiplier: 1 / 16, smallImageStem: true, head: 'linear', dim: 8, bnSplits: 2, ...over,
});

describe('ResNet encoder', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  for (const architecture of ARCHITECTURES) {
    for (const smallImageStem of [true, false]) {
      for (const head of ['linear', 'mlp'] as const) {
        it(`${architecture}, ${smallImageStem ? 'small' : 'ImageNet'} stem, ${head} head maps [N,H,W,3] to [N,dim]`, () => {
          const encoder = Encoder.create(tiny({ architecture, smallImageStem, head, dim: 12 }), 1);
          const size = smallImageStem ? 8 : 32;
          const out = tf.tidy(() => {
            const x = tf.randomNormal([4, size, size, 3]) as tf.Tensor4D;
            return [encoder.apply(x, 'train').shape, encoder.apply(x, 'eval').shape, encoder.features(x, 'eval').shape];
          });
          expect(out[0]).toEqual([4, 12]);
          expect(out[1]).toEqual([4, 12]);
          expect(out[2]).toEqual([4, encoder.featureChannels]);
          expect(encoder.featureChannels).toBe(architecture === 'resnet50' ? 4 * 32 : 32);
          encoder.dispose();
        });
      }
    }
  }

  // Parameter counts of torchvision's resnet18/50 (11,689,512 and 25,557,032 with a 1000-way fc)
  // with the fc replaced by fc -> 128: the architecture matches the reference layer for layer.
  it('has exactly torchvision ResNet-18 and ResNet-50 parameter counts at full width', () => {
    const r18 = Encoder.create(tiny({ widthMultiplier: 1, smallImageStem: false, dim: 128 }), 1);
    expect(r18.variables.parameterCount()).toBe(11_689_512 - (512 * 1000 + 1000) + (512 * 128 + 128));
    r18.dispose();
    const r50 = Encoder.create(tiny({ architecture: 'resnet50', widthMultiplier: 1, smallImageStem: false, dim: 128 }), 1);
    expect(r50.variables.parameterCount()).toBe(25_557_032 - (2048 * 1000 + 1000) + (2048 * 128 + 128));
    r50.dispose();
  });

  it('is deterministic under a seed and differs across seeds', () => {
    const a = Encoder.create(tiny({}), 3);
    const b = Encoder.create(tiny({}), 3);
    const c = Encoder.create(tiny({}), 4);
    const w = (e: Encoder): Float32Array => e.variables.parameter('layer1.0.conv1').dataSync() as Float32Array;
    expect(Array.from(w(a))).toEqual(Array.from(w(b)));
    expect(Array.from(w(a))).not.toEqual(Array.from(w(c)));
    [a, b, c].forEach((e) => { e.dispose(); });
  });

  it('uses batch statistics in train mode and running statistics in eval mode', () => {
    const encoder = Encoder.create(tiny({ bnSplits: 1 }), 5);
    const x = tf.randomNormal([4, 8, 8, 3], 3, 2, 'float32', 1) as tf.Tensor4D;
    const single = tf.slice(x, [0, 0, 0, 0], [2, -1, -1, -1]) as tf.Tensor4D;
    // eval output of an image does not depend on the rest of the batch; train output does
    const evalFull = tf.slice(encoder.apply(x, 'eval'), [0, 0], [2, -1]);
    const evalPart = encoder.apply(single, 'eval');
    expect(tf.max(tf.abs(tf.sub(evalFull, evalPart))).dataSync()[0]).toBeLessThan(1e-4);
    const trainFull = tf.slice(encoder.apply(x, 'train'), [0, 0], [2, -1]);
    const trainPart = encoder.apply(single, 'train');
    expect(tf.max(tf.abs(tf.sub(trainFull, trainPart))).dataSync()[0]).toBeGreaterThan(1e-3);
    encoder.dispose();
  });

  it('rejects invalid configurations naming the field', () => {
    expect(() => Encoder.create(tiny({ widthMultiplier: 0 }), 1)).toThrow(/widthMultiplier/);
    expect(() => Encoder.create(tiny({ architecture: 'resnet99' as 'resnet18' }), 1)).toThrow(/architecture/);
    expect(() => Encoder.create(tiny({ dim: 0 }), 1)).toThrow(/dim/);
  });

  it('leaves no tensors behind in train and eval forward passes', () => {
    const encoder = Encoder.create(tiny({}), 1);
    const x = tf.randomNormal([4, 8, 8, 3]) as tf.Tensor4D;
    const run = (): void => { tf.tidy(() => { encoder.apply(x, 'train'); encoder.apply(x, 'eval'); }); };
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });
});
