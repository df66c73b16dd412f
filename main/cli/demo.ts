/**
 * `npm run demo`: trains MoCo for a few epochs on the generated sample set (10 classes of shapes
 * and textures, no download) and prints loss and kNN accuracy per epoch. The quickest way to see
 * the engine learn on this machine until the full CLI and the app arrive.
 *   npm run demo [-- --epochs 10] [-- --backend wasm|cpu|tensorflow]
 */
import * as tf from '@tensorflow/tfjs-core';
import { generateSampleSet, SAMPLE_CLASSES } from '../core/sample-images.js';
import { defaultAugmentationConfig } from '../ml/augment.js';
import { chooseBackend, parseBackendName } from '../ml/backend.js';
import { embedImages } from '../ml/batches.js';
import { weightedKnn } from '../ml/knn.js';
import type { Encoder } from '../ml/resnet.js';
import { MocoTrainer } from '../ml/trainer.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const epochs = Number(option('epochs', '10'));
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`--epochs: expected a positive integer, got ${option('epochs', '')}`);
  const backend = await chooseBackend({ preferred: parseBackendName(option('backend', 'auto'), '--backend'), env: process.env });
  for (const a of backend.attempts) console.log(`backend ${a.name}: ${a.ok ? 'used' : 'not used'} (${a.reason})`);

  const imageSize = 32;
  const all = generateSampleSet({ perClass: 40, size: 48, seed: 1 });
  const label = (c: string): number => SAMPLE_CLASSES.indexOf(c as (typeof SAMPLE_CLASSES)[number]);
  const train = all.filter((s) => s.index < 30);
  const test = all.filter((s) => s.index >= 30);
  const trainer = new MocoTrainer({
    moco: {
      encoder: { architecture: 'resnet18', widthMultiplier: 0.25, smallImageStem: true, head: 'mlp', dim: 128, bnSplits: 8 },
      queueSize: 128, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true,
    },
    sgd: { learningRate: 0.06, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'cosine' }, warmupEpochs: 0 },
    augmentation: defaultAugmentationConfig('v2', imageSize),
    batchSize: 32,
    epochs,
    seed: 1,
  });
  const knn = (encoder: Encoder): number => tf.tidy(() => weightedKnn(
    embedImages(encoder, train.map((s) => s.image), imageSize), Int32Array.from(train.map((s) => label(s.className))),
    embedImages(encoder, test.map((s) => s.image), imageSize), Int32Array.from(test.map((s) => label(s.className))),
    { k: 20, temperature: 0.1, numClasses: SAMPLE_CLASSES.length },
  ).top1);

  console.log(`${train.length} training images, ${test.length} test images, ${SAMPLE_CLASSES.length} classes; kNN at random init: ${knn(trainer.moco.queryEncoder).toFixed(3)}`);
  for (let epoch = 0; epoch < epochs; epoch++) {
    let images = 0;
    const started = performance.now();
    const loss = trainer.trainEpoch(train.map((s) => s.image), (r) => { images += r.indices.length; });
    const seconds = (performance.now() - started) / 1000;
    console.log(`epoch ${epoch + 1}/${epochs}  loss ${loss.toFixed(3)}  kNN top-1 ${knn(trainer.moco.queryEncoder).toFixed(3)}  ${(images / seconds).toFixed(1)} img/s`);
  }
  trainer.dispose();
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
