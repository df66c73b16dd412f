/**
 * Where the trainer's images come from (issue 14): an array in memory (tests, small jobs) or a
 * store on disk read per batch (main/core/images/image-store.ts), so memory is bounded by the
 * batch, not by the folder. Positions are 0..count-1 in scan order; a read returns the images at
 * the given positions, in that order.
 */
import type { RgbImage } from './augment.js';

export interface ImageSource {
  readonly count: number;
  read(positions: ArrayLike<number>): Promise<readonly RgbImage[]>;
}

/** Images already in memory, as a source. */
export class MemoryImageSource implements ImageSource {
  constructor(private readonly images: readonly RgbImage[]) {}

  get count(): number {
    return this.images.length;
  }

  read(positions: ArrayLike<number>): Promise<readonly RgbImage[]> {
    return Promise.resolve(Array.from(positions, (position) => {
      const image = this.images[position];
      if (!image) throw new RangeError(`no image at position ${position} (${this.images.length} images)`);
      return image;
    }));
  }
}

/** Positions start..end-1. */
export function blockPositions(start: number, end: number): Int32Array {
  return Int32Array.from({ length: end - start }, (_, i) => start + i);
}

/** Reads positions start..end-1 in blocks of `block`, handing each block to `use` (embedding a whole folder). */
export async function forEachBlock(source: ImageSource, block: number, use: (images: readonly RgbImage[], start: number) => Promise<void> | void): Promise<void> {
  for (let start = 0; start < source.count; start += block) {
    const end = Math.min(source.count, start + block);
    await use(await source.read(blockPositions(start, end)), start);
  }
}
