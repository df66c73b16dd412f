/**
 * RGB images out as PNG files: the `moco-studio sample <dir>` command and augmentation previews.
 * Lossless, so a written image reads back byte for byte.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../ml/augment.js';
import { writeFileAtomic } from '../atomic-file.js';

export async function encodeRgbPng(image: RgbImage): Promise<Buffer> {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodeRgbPng: bad dimensions ${width}x${height}`);
  }
  if (data.length !== width * height * 3) throw new RangeError(`encodeRgbPng: ${data.length} bytes for ${width}x${height}x3`);
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Encodes and writes atomically (temporary file, fsync, rename): a reader never sees half a PNG. */
export async function writeRgbPng(path: string, image: RgbImage): Promise<void> {
  await writeFileAtomic(path, await encodeRgbPng(image));
}
