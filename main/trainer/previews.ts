/** Augmentation previews: a few query/key crops of the batch just trained on, as small PNGs. */
import sharp from 'sharp';
import type { TrainerEventOf } from '../../shared/trainer-protocol.js';
import { denormalizeToRgb } from '../ml/augment.js';
import type { StepReport } from '../ml/trainer.js';

async function png(values: Float32Array, index: number, size: number): Promise<string> {
  const rgb = denormalizeToRgb(values, index * size * size * 3, size);
  const buffer = await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return buffer.toString('base64');
}

export async function makePreview(report: StepReport, relativePaths: readonly string[], size: number, count = 4): Promise<TrainerEventOf<'preview'>> {
  const pairs: TrainerEventOf<'preview'>['pairs'] = [];
  const n = Math.min(count, report.indices.length);
  for (let i = 0; i < n; i++) {
    const params = report.batch.params[i]!;
    pairs.push({
      relativePath: relativePaths[report.indices[i]!] ?? '',
      queryPng: await png(report.batch.queryPixels, i, size),
      keyPng: await png(report.batch.keyPixels, i, size),
      query: { ...params.query },
      key: { ...params.key },
    });
  }
  return { type: 'preview', globalStep: report.globalStep, pairs };
}
