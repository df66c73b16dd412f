/**
 * Writes the bundled sample data set: generated deterministically (main/core/sample-images.ts),
 * no download. One subfolder per class, so training reports kNN accuracy and the embedding map
 * is coloured by class. Existing files are left alone unless they differ in name.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from './atomic-file.js';
import { generateSampleSet, SAMPLE_CLASSES } from './sample-images.js';

export const SAMPLE_DEFAULTS = { perClass: 40, size: 64, seed: 2020 } as const;

export interface SampleWriteResult {
  readonly directory: string;
  readonly images: number;
  readonly written: number;
  readonly classes: readonly string[];
}

export async function writeSampleDataset(directory: string, options: { perClass?: number; size?: number; seed?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<SampleWriteResult> {
  const perClass = options.perClass ?? SAMPLE_DEFAULTS.perClass;
  const size = options.size ?? SAMPLE_DEFAULTS.size;
  const seed = options.seed ?? SAMPLE_DEFAULTS.seed;
  if (!Number.isInteger(perClass) || perClass < 1 || perClass > 10_000) throw new Error(`perClass: expected an integer in [1, 10000], got ${perClass}`);
  if (!Number.isInteger(size) || size < 16 || size > 1024) throw new Error(`size: expected an integer in [16, 1024], got ${size}`);
  const samples = generateSampleSet({ perClass, size, seed });
  let written = 0;
  let done = 0;
  for (const className of SAMPLE_CLASSES) await mkdir(join(directory, className), { recursive: true });
  for (const sample of samples) {
    const path = join(directory, sample.className, `${sample.className}-${String(sample.index).padStart(3, '0')}.png`);
    const exists = await stat(path).then(() => true, () => false);
    if (!exists) {
      const png = await sharp(sample.image.data, { raw: { width: sample.image.width, height: sample.image.height, channels: 3 } }).png().toBuffer();
      await writeFileAtomic(path, png);
      written++;
    }
    options.onProgress?.(++done, samples.length);
  }
  return { directory, images: samples.length, written, classes: SAMPLE_CLASSES };
}
