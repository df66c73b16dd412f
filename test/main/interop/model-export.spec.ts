/**
 * The TF.js and ONNX exports give the app's own embeddings (issue 12 item 4): a run trained a
 * few real steps, embedded by the product's embed job, exported by the CLI's export command, then loaded by
 * tfjs-converter (tf.loadGraphModel) and by onnxruntime-node and run on the same preprocessed
 * pixels the app embeds; every value must match the stored embedding rows within 1e-4. Both
 * stems are covered (the ImageNet one has the max pool).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveSettings } from '../../../shared/training-settings.js';
import { readEmbeddings } from '../../../main/core/embeddings/embedding-store.js';
import { createRun, runPaths, updateRunRecord } from '../../../main/core/run-store.js';
import { writeSampleDataset } from '../../../main/core/sample-dataset.js';
import { makeEvalPixels } from '../../../main/ml/batches.js';
import { exportTrainingState } from '../../../main/ml/training-state.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { saveCheckpoint } from '../../../main/trainer/checkpoint.js';
import { runExportCommand } from '../../../main/cli/interop-commands.js';
import { exportRunModel } from '../../../main/interop/model-export.js';
import { embedRun } from '../../../main/trainer/encoder-jobs.js';
import { storeSizeFor, toTrainingConfig } from '../../../main/trainer/training-config.js';
import { loadTrainingImagesInMemory } from '../../../main/trainer/training-images.js';
import { useBackend } from '../../helpers/backend.js';


/** NHWC -> NCHW. */
function toNchw(x: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n!; b++) for (let y = 0; y < h!; y++) for (let xx = 0; xx < w!; xx++) for (let ch = 0; ch < c!; ch++) {
    out[((b * c! + ch) * h! + y) * w! + xx] = x[((b * h! + y) * w! + xx) * c! + ch]!;
  }
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('TF.js and ONNX exports', () => {
  let home: string;
  let sample: string;
  beforeAll(async () => {
    await useBackend('wasm');
    home = await mkdtemp(join(tmpdir(), 'moco-model-export-'));
    sample = join(home, 'sample');
    await writeSampleDataset(sample, { perClass: 2, size: 40 });
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  /** A run on disk: settings, a checkpoint after 2 real MoCo steps, and the product's embeddings of the folder. */
  async function trainedRun(name: string, imageSize: number, smallImageStem: boolean): Promise<string> {
    const userSettings = { imageSize, smallImageStem, widthMultiplier: 0.0625, batchSize: 8, queueSize: 16, epochs: 1, backend: 'wasm' as const };
    const { directory } = await createRun({ runsRoot: join(home, 'runs'), folder: sample, userSettings, runDirectory: join(home, 'runs', name) });
    const { settings } = resolveSettings(userSettings, 20, 'wasm', 1);
    await updateRunRecord(directory, { settings });
    const data = await loadTrainingImagesInMemory(sample, join(home, 'cache'), storeSizeFor(imageSize), () => undefined);
    const trainer = new MocoTrainer(toTrainingConfig(settings));
    try {
      for (let step = 0; step < 2; step++) await trainer.trainStep(data.images);
      await saveCheckpoint(runPaths(directory).checkpoints, settings, await exportTrainingState(trainer));
    } finally {
      trainer.dispose();
    }
    await embedRun({ type: 'embed', runDirectory: directory, cacheDirectory: join(home, 'cache') }, () => undefined, () => undefined);
    return directory;
  }

  for (const [name, imageSize, smallImageStem] of [['small-stem', 16, true], ['imagenet-stem', 40, false]] as const) {
    it(`${name}: tf.loadGraphModel and onnxruntime give the stored embeddings within 1e-4 (moco-studio export --format tfjs|onnx)`, async () => {
      const directory = await trainedRun(name, imageSize, smallImageStem);
      const stored = await readEmbeddings(runPaths(directory).embeddings);
      const data = await loadTrainingImagesInMemory(sample, join(home, 'cache'), storeSizeFor(imageSize), () => undefined);
      expect(data.relativePaths).toEqual(stored.items.map((i) => i.relativePath));
      const pixels = makeEvalPixels(data.images, imageSize);
      const shape = [data.images.length, imageSize, imageSize, 3] as const;

      const tfjsOut = join(home, `${name}-tfjs`);
      const onnxOut = join(home, `${name}.onnx`);
      // The CLI's export command in-process (a spawned CLI costs ~10 s on 2 loaded cores; its flag parsing is tested in cli-validation).
      const written = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      try {
        expect(await runExportCommand([directory], { format: 'tfjs', out: tfjsOut, json: true })).toBe(0);
        expect((JSON.parse(String(written.mock.calls[0]?.[0])) as { standardised: boolean }).standardised).toBe(true);
      } finally {
        written.mockRestore();
      }
      await exportRunModel({ runDirectory: directory, format: 'onnx', out: onnxOut });

      // tfjs: model.json + weights.bin as written, through tfjs-converter's own loader.
      const modelJson = JSON.parse(await readFile(join(tfjsOut, 'model.json'), 'utf8')) as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[]; format: string };
      const weights = await readFile(join(tfjsOut, 'weights.bin'));
      const model = await loadGraphModel({
        load: () => Promise.resolve({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0]!.weights, weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength), format: modelJson.format }),
      });
      const before = tf.memory().numTensors;
      const input = tf.tensor4d(pixels, [...shape]);
      const output = model.predict(input) as tf.Tensor;
      expect(output.shape).toEqual([stored.rows, stored.dim]);
      expect(maxAbs(await output.data(), stored.matrix)).toBeLessThan(1e-4);
      tf.dispose([input, output]);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();

      // ONNX: NCHW, onnxruntime-node's CPU provider.
      const session = await ort.InferenceSession.create(onnxOut);
      expect(session.inputNames).toEqual(['pixels']);
      const result = await session.run({ pixels: new ort.Tensor('float32', toNchw(pixels, shape), [shape[0], 3, imageSize, imageSize]) });
      const embedding = result.embedding!;
      expect(embedding.dims).toEqual([stored.rows, stored.dim]);
      expect(maxAbs(embedding.data as Float32Array, stored.matrix)).toBeLessThan(1e-4);
      await session.release();
    }, 120_000);
  }

  it('names what is wrong: an unknown format, a missing --out, --layout outside torch', async () => {
    const directory = join(home, 'runs', 'small-stem');
    const bad = (values: Record<string, string>) => runExportCommand([directory], values);
    await expect(bad({ format: 'keras', out: join(home, 'x') })).rejects.toThrow(/--format csv\|npy\|tfjs\|onnx\|torch or --for torchrun is required \(got --format keras\)/);
    await expect(bad({ format: 'onnx' })).rejects.toThrow(/--out <file> is required/);
    await expect(bad({ format: 'csv', out: join(home, 'e.csv'), layout: 'moco' })).rejects.toThrow(/--layout is for --format torch only/);
    await expect(runExportCommand([join(home, 'no-such-run')], { format: 'onnx', out: join(home, 'y.onnx') })).rejects.toThrow(/no-such-run/);
    const written = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await bad({ format: 'csv', out: join(home, 'e.csv') })).toBe(0);
      expect(String(written.mock.calls[0]?.[0])).toMatch(/Wrote .*e\.csv \(20 x \d+ embeddings of step-000000002\.ckpt\)/);
    } finally {
      written.mockRestore();
    }
    expect((await readFile(join(home, 'e.csv'), 'utf8')).trim().split('\n')).toHaveLength(21);
  }, 30_000);
});

