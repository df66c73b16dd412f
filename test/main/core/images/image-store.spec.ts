/**
 * The decoded-image store (issue 14): the trainer reads its images from a file per batch instead
 * of holding the folder in memory. Real PNG files, real sharp decodes, real tiny MoCo steps.
 */
import { copyFile, mkdir, open, readdir, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supersededDecodePipelineIds } from '../../../../main/core/images/decode.js';
import { folderPointerKey, openImageFolderStore } from '../../../../main/core/images/folder-store.js';
import { ImageStore, ImageStoreCorruptError } from '../../../../main/core/images/image-store.js';
import { loadImageFolder } from '../../../../main/core/images/load.js';
import { writeRgbPng } from '../../../../main/core/images/write-png.js';
import type { RgbImage } from '../../../../main/ml/augment.js';
import { InProcessHost } from '../../../../main/ml/in-process-host.js';
import type { ImageSource } from '../../../../main/ml/image-source.js';
import { exportTrainingState, importTrainingState } from '../../../../main/ml/training-state.js';
import { MocoTrainer } from '../../../../main/ml/trainer.js';
import { useBackend } from '../../../helpers/backend.js';
import { tinySampleImages, tinyTrainingConfig } from '../../../helpers/tiny-training.js';
import { makeTempDir } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;
let folder: string;
const originals = tinySampleImages(3); // 30 images of 24 px

beforeAll(async () => {
  await useBackend('wasm');
  ({ dir, cleanup } = await makeTempDir());
  folder = join(dir, 'images');
  await writeOriginals();
});
afterAll(async () => {
  await cleanup();
});

async function writeOriginals(): Promise<void> {
  await mkdir(folder, { recursive: true });
  await Promise.all(originals.map((image, i) => writeRgbPng(join(folder, `img-${String(i).padStart(2, '0')}.png`), image)));
}

function sameImages(a: readonly RgbImage[], b: readonly RgbImage[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((image, i) => {
    expect([image.width, image.height]).toEqual([b[i]!.width, b[i]!.height]);
    expect(Buffer.from(image.data).equals(Buffer.from(b[i]!.data)), `image ${i}`).toBe(true);
  });
}

describe('decoded-image store', () => {
  it('reads back the pixels of the in-memory load batch by batch, from the file (not from memory), and detects corruption', async () => {
    const cacheDir = join(dir, 'cache-a');
    const inMemory = (await loadImageFolder(folder, { storeSize: 16, cacheDir: join(dir, 'cache-reference') })).items.map((item) => item.image);
    const opened = await openImageFolderStore(folder, { storeSize: 16, cacheDir });
    expect(opened.stats.store).not.toBeNull();
    expect(opened.entries.map((e) => e.relativePath)).toEqual((await readdir(folder)).sort());
    const order = [29, 3, 17, 0, 8, 8, 21, 5];
    const batch = await opened.source.read(order);
    sameImages(batch, order.map((i) => inMemory[i]!));
    // A batch is one buffer of its own, the size of the batch: nothing of the folder besides it.
    expect(batch[0]!.data.buffer.byteLength).toBe(batch.reduce((sum, image) => sum + image.data.length, 0));

    // The store alone serves the pixels: originals and per-image cache gone, reads still work.
    await rm(folder, { recursive: true });
    await Promise.all((await readdir(cacheDir)).filter((name) => name.endsWith('.rgb')).map((name) => rm(join(cacheDir, name))));
    sameImages(await opened.source.read([1, 2]), [inMemory[1]!, inMemory[2]!]);
    // ...and reads them from disk on every call: one flipped byte in the file is caught at the next read.
    const file = await open(opened.stats.store!, 'r+');
    const first = (await opened.source.read([0]))[0]!;
    const probe = Buffer.alloc(first.data.length);
    let offset = 64;
    for (; offset < (await file.stat()).size; offset += first.data.length) {
      await file.read(probe, 0, probe.length, offset);
      if (probe.equals(Buffer.from(first.data))) break;
    }
    await file.write(Buffer.from([probe[0]! ^ 0xff]), 0, 1, offset);
    await file.close();
    await expect(opened.source.read([0])).rejects.toThrow(ImageStoreCorruptError);
    await opened.source.close();
    await writeOriginals();
  });

  it('an unchanged folder reopens its store without decoding; a truncated store is rebuilt; an edited file gives a new store and the old one goes', async () => {
    const cacheDir = join(dir, 'cache-b');
    const first = await openImageFolderStore(folder, { storeSize: 16, cacheDir });
    expect([first.stats.decoded, first.stats.fromCache]).toEqual([30, 0]);
    const reference = await first.source.read([0, 1, 2]);
    await first.source.close();

    const again = await openImageFolderStore(folder, { storeSize: 16, cacheDir });
    expect([again.stats.decoded, again.stats.fromCache, again.stats.store]).toEqual([0, 30, first.stats.store]);
    await again.source.close();

    // A partial store (a crash before the rename cannot leave one, a damaged disk can): detected, rebuilt.
    await truncate(first.stats.store!, (await stat(first.stats.store!)).size - 5);
    const warnings: string[] = [];
    const rebuilt = await openImageFolderStore(folder, { storeSize: 16, cacheDir, onWarning: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/truncated or extended.*rebuilt/);
    // The store is the decoded-image cache (no per-image files are written while it is built): a
    // damaged one cannot lend its images, so they are decoded again.
    expect([rebuilt.stats.decoded, rebuilt.stats.fromCache]).toEqual([30, 0]);
    expect((await readdir(cacheDir)).filter((name) => name.endsWith('.rgb'))).toEqual([]);
    sameImages(await rebuilt.source.read([0, 1, 2]), reference);
    await rebuilt.source.close();
    await expect(ImageStore.open(join(cacheDir, 'stores', 'missing.pack'))).rejects.toMatchObject({ code: 'ENOENT' });

    // A store of another format version (one written before an upgrade) is rebuilt without a warning.
    const versioned = await open(rebuilt.stats.store!, 'r+');
    await versioned.write(Buffer.from([1, 0, 0, 0]), 0, 4, 8);
    await versioned.close();
    const upgradeWarnings: string[] = [];
    const upgraded = await openImageFolderStore(folder, { storeSize: 16, cacheDir, onWarning: (m) => upgradeWarnings.push(m) });
    expect([upgraded.stats.decoded, upgradeWarnings]).toEqual([30, []]);
    await upgraded.source.close();

    const later = new Date(Date.now() + 5000);
    await utimes(join(folder, 'img-04.png'), later, later);
    const edited = await openImageFolderStore(folder, { storeSize: 16, cacheDir });
    expect([edited.stats.decoded, edited.stats.fromCache]).toEqual([1, 29]);
    expect(edited.stats.store).not.toBe(first.stats.store);
    expect((await readdir(join(cacheDir, 'stores'))).filter((name) => name.endsWith('.pack'))).toEqual([edited.stats.store!.split('/').pop()!]);
    await edited.source.close();
  });

  it("a folder's stores from earlier decode pipelines are deleted with their pointers when the new one is built; other store sizes stay", async () => {
    const cacheDir = join(dir, 'cache-superseded');
    const stores = join(cacheDir, 'stores');
    const other = await openImageFolderStore(folder, { storeSize: 12, cacheDir });
    await other.source.close();
    const otherName = other.stats.store!.split('/').pop()!;
    // What an earlier release left: a store of pipeline v1 and one of v2, each named by its pointer.
    const earlier = supersededDecodePipelineIds({ storeSize: 16 });
    expect(earlier.length).toBeGreaterThanOrEqual(2);
    const left: string[] = [];
    for (const [i, id] of earlier.entries()) {
      const name = `${String(i + 1).repeat(40)}.pack`;
      await copyFile(other.stats.store!, join(stores, name));
      await writeFile(join(stores, `${folderPointerKey(resolve(folder), 16, id)}.latest`), `${name}\n`);
      left.push(name, `${folderPointerKey(resolve(folder), 16, id)}.latest`);
    }
    const built = await openImageFolderStore(folder, { storeSize: 16, cacheDir });
    await built.source.close();
    const names = await readdir(stores);
    for (const name of left) expect(names, name).not.toContain(name);
    expect(names.filter((name) => name.endsWith('.pack')).sort()).toEqual([otherName, built.stats.store!.split('/').pop()!].sort());
  });

  it('training from the store is the in-memory run, and a resume across a reopened store continues the same order', async () => {
    const config = tinyTrainingConfig();
    const cacheDir = join(dir, 'cache-c');
    const images = (await loadImageFolder(folder, { storeSize: 24, cacheDir: join(dir, 'cache-reference-24') })).items.map((item) => item.image);
    const steps = async (trainer: MocoTrainer, source: readonly RgbImage[] | ImageSource, count: number): Promise<number[][]> => {
      const host = new InProcessHost(trainer.moco, trainer.optimizer);
      const order: number[][] = [];
      for (let i = 0; i < count; i++) order.push([...(await trainer.trainStepOn(host, source)).indices]);
      return order;
    };
    const straight = new MocoTrainer(config);
    const expectedOrder = await steps(straight, images, 4); // 3 steps an epoch: across the epoch boundary
    const expected = await exportTrainingState(straight);

    const store = await openImageFolderStore(folder, { storeSize: 24, cacheDir });
    const first = new MocoTrainer(config);
    const order = await steps(first, store.source, 2); // the 3rd is read and augmented ahead, and must not count
    const saved = await exportTrainingState(first);
    await store.source.close();
    first.dispose();

    const reopened = await openImageFolderStore(folder, { storeSize: 24, cacheDir });
    expect(reopened.stats.decoded).toBe(0);
    const resumed = new MocoTrainer(config);
    importTrainingState(resumed, saved);
    order.push(...await steps(resumed, reopened.source, 2));
    await reopened.source.close();
    expect(order).toEqual(expectedOrder);
    const state = await exportTrainingState(resumed);
    expect(state.meta).toEqual(expected.meta);
    const straightTensors = new Map(expected.tensors.map((t) => [t.name, t.values]));
    let max = 0;
    for (const t of state.tensors) t.values.forEach((v, i) => { max = Math.max(max, Math.abs(v - straightTensors.get(t.name)![i]!)); });
    expect(max).toBeLessThanOrEqual(1e-6);
    straight.dispose();
    resumed.dispose();
  });
});
