/**
 * Deterministic bench folders for `npm run bench:scale` (issue 14): N distinct small JPEGs, each a
 * gradient, a block and a stripe pattern derived from its index, encoded by sharp from raw buffers
 * several at a time. The folder is kept under the temp directory keyed by N and the generator
 * version, with a marker written last, so a rerun reuses it and an interrupted one is redone.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const GENERATOR_VERSION = 1;
export const BENCH_IMAGE_SIDE = 96;

export function benchRoot(): string {
  return join(tmpdir(), 'moco-bench-scale');
}

/** Pixels of image `index`, RGB HWC, side x side: distinct per index (its colours, block position, stripes). */
export function benchPixels(index: number, side = BENCH_IMAGE_SIDE): Buffer {
  let state = (index + 1) * 2654435761 >>> 0;
  const next = (): number => {
    state = (state ^ (state << 13)) >>> 0;
    state = (state ^ (state >>> 17)) >>> 0;
    state = (state ^ (state << 5)) >>> 0;
    return state;
  };
  const base = [next() & 255, next() & 255, next() & 255];
  const block = [next() & 255, next() & 255, next() & 255];
  const bx = next() % (side / 2);
  const by = next() % (side / 2);
  const stripe = 3 + (next() % 9);
  const pixels = Buffer.alloc(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const inBlock = x >= bx && x < bx + side / 3 && y >= by && y < by + side / 3;
      const shade = ((x + y) % (2 * stripe) < stripe ? 24 : 0) + ((x * 2) & 63);
      const at = (y * side + x) * 3;
      for (let c = 0; c < 3; c++) pixels[at + c] = Math.min(255, (inBlock ? block[c]! : base[c]!) + shade);
    }
  }
  return pixels;
}

/** The folder of `count` bench images, generated unless a complete one is cached. */
export async function benchFolder(count: number, onProgress?: (done: number) => void): Promise<{ folder: string; generatedSeconds: number | null }> {
  const folder = join(benchRoot(), `images-v${GENERATOR_VERSION}-${count}`);
  const marker = `${folder}.complete`;
  if (existsSync(marker)) return { folder, generatedSeconds: null };
  const started = performance.now();
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const raw = benchPixels(index);
      await sharp(raw, { raw: { width: BENCH_IMAGE_SIDE, height: BENCH_IMAGE_SIDE, channels: 3 } })
        .jpeg({ quality: 85 })
        .toFile(join(folder, `img-${String(index).padStart(7, '0')}.jpg`));
      done++;
      if (done % 5000 === 0) onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await writeFile(marker, `${count}\n`);
  return { folder, generatedSeconds: (performance.now() - started) / 1000 };
}
