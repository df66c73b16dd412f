/**
 * The data behind `npm run bench:ui`: a folder of N real tiny PNG files (10 class subfolders) and a
 * finished run over it whose embedding store holds N synthetic unit vectors (10 clusters, one per
 * class), written with the real embedding store. The UI then reads them through the real server
 * and the real contract; only the training is skipped (it is not what this bench measures).
 * Reused across invocations when the same N was written before (files take a while at 100k).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { runsDirectory } from '../../core/data-directory.js';
import { writeEmbeddings } from '../../core/embeddings/embedding-store.js';
import { createRun, updateRunRecord } from '../../core/run-store.js';
import { mulberry32 } from '../../../shared/mulberry32.js';

export const BENCH_CLASSES = 10;
const DIM = 64;
const DISTINCT_FILES = 64;
const WRITE_CONCURRENCY = 64;

export interface UiFixture {
  readonly home: string;
  readonly folder: string;
  readonly runId: string;
}

function relativePathOf(row: number): string {
  return `class-${row % BENCH_CLASSES}/img-${String(row).padStart(7, '0')}.png`;
}

async function writeImages(folder: string, images: number): Promise<void> {
  for (let c = 0; c < BENCH_CLASSES; c++) await mkdir(join(folder, `class-${c}`), { recursive: true });
  const files: Buffer[] = [];
  for (let i = 0; i < DISTINCT_FILES; i++) {
    const hue = (i * 47) % 256;
    files.push(await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: hue, g: (hue * 3) % 256, b: 255 - hue } } }).png().toBuffer());
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < images) {
      const row = next++;
      await writeFile(join(folder, relativePathOf(row)), files[row % DISTINCT_FILES]!);
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
}

function clusteredUnitRows(rows: number): Float32Array {
  const random = mulberry32(14);
  const gauss = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const centres = Array.from({ length: BENCH_CLASSES }, () => Float32Array.from({ length: DIM }, gauss));
  const matrix = new Float32Array(rows * DIM);
  for (let r = 0; r < rows; r++) {
    const centre = centres[r % BENCH_CLASSES]!;
    let norm = 0;
    for (let d = 0; d < DIM; d++) {
      const v = centre[d]! + 0.8 * gauss();
      matrix[r * DIM + d] = v;
      norm += v * v;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let d = 0; d < DIM; d++) matrix[r * DIM + d]! *= scale;
  }
  return matrix;
}

/** Writes (or reuses) the folder and run for `images` under `workDir`; the server's MOCO_STUDIO_HOME is `home`. */
export async function prepareUiFixture(workDir: string, images: number): Promise<UiFixture> {
  const home = join(workDir, `home-${images}`);
  const folder = join(workDir, `images-${images}`);
  const marker = join(workDir, `fixture-${images}.json`);
  if (existsSync(marker)) {
    const saved = JSON.parse(await readFile(marker, 'utf8')) as UiFixture;
    if (existsSync(saved.home) && existsSync(saved.folder)) return saved;
  }
  await rm(home, { recursive: true, force: true });
  await rm(folder, { recursive: true, force: true });
  const fixture = await writeSyntheticRun(home, folder, images);
  await writeFile(marker, JSON.stringify(fixture));
  return fixture;
}

/**
 * Writes `images` tiny PNGs under `folder` and a finished run over them into the data directory
 * `home` (also used by the map e2e test, test/e2e/map.spec.ts, on a running server's home).
 */
export async function writeSyntheticRun(home: string, folder: string, images: number): Promise<UiFixture> {
  await writeImages(folder, images);
  const { directory, record } = await createRun({ runsRoot: runsDirectory(home), folder, userSettings: {} });
  const items = Array.from({ length: images }, (_, row) => ({ relativePath: relativePathOf(row), className: `class-${row % BENCH_CLASSES}` }));
  await writeEmbeddings(join(directory, 'embeddings'), { matrix: clusteredUnitRows(images), dim: DIM, items, checkpoint: 'synthetic-bench' });
  await updateRunRecord(directory, { status: 'finished', message: 'synthetic run written by npm run bench:ui' });
  return { home, folder, runId: record.id };
}
