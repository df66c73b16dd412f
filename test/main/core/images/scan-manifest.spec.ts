/**
 * One scan per run (issue 14, issue 13 item 8): the folder check's scan is stored and reused by
 * the next job while no directory changed; any change, a corrupt manifest or a folder changed
 * just before the scan means a fresh walk. Progress arrives throttled, with a final event.
 * Real folders, real files.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanImageFolderOnce, scanManifestPath, type ScanOnceProgress } from '../../../../main/core/images/scan-manifest.js';
import { scanImageFolder } from '../../../../main/core/images/scan.js';
import { checkImageFolder } from '../../../../main/core/folder-check.js';
import { backdateDirectories } from './backdate.js';
import { makeTempDir } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;
let folder: string;
let cache: string;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir());
  folder = join(dir, 'images');
  cache = join(dir, 'cache');
  for (const name of ['cat/a.png', 'cat/b.png', 'dog/c.png', 'dog/deep/d.png', 'notes.txt']) {
    await mkdir(join(folder, name, '..'), { recursive: true });
    await writeFile(join(folder, name), 'x');
  }
});
afterEach(async () => {
  await cleanup();
});

const scanOnce = (events: ScanOnceProgress[] = []): ReturnType<typeof scanImageFolderOnce> =>
  scanImageFolderOnce(folder, { excludeDirectories: [cache], manifestDirectory: cache, onProgress: (p) => events.push(p) });

describe('scanImageFolderOnce', () => {
  it('reuses the stored scan when no directory changed, with one final progress event', async () => {
    await backdateDirectories(folder);
    const firstEvents: ScanOnceProgress[] = [];
    const first = await scanOnce(firstEvents);
    expect(first.reused).toBe(false);
    expect(firstEvents.at(-1)).toEqual({ files: 5, folders: 4, done: true, reused: false });
    const again: ScanOnceProgress[] = [];
    const second = await scanOnce(again);
    expect(second.reused).toBe(true);
    expect(again).toEqual([{ files: 5, folders: 4, done: true, reused: true }]);
    const fresh = await scanImageFolder(folder, { excludeDirectories: [cache] });
    expect(await scanImageFolder(folder, { excludeDirectories: [cache], syscalls: 'batched-sync' })).toEqual(fresh); // the CLI's and trainer's mode
    expect(second.images).toEqual(fresh.images);
    expect(second.skipped).toEqual(fresh.skipped);
    expect(second.classes).toEqual(['cat', 'dog']);
  });

  it('walks again after a file is added, removed or renamed anywhere in the tree', async () => {
    await backdateDirectories(folder);
    await scanOnce();
    await writeFile(join(folder, 'dog', 'deep', 'e.png'), 'x'); // two levels down
    const added = await scanOnce();
    expect(added.reused).toBe(false);
    expect(added.images.map((i) => i.relativePath)).toContain('dog/deep/e.png');

    await backdateDirectories(folder);
    await scanOnce();
    await rename(join(folder, 'cat', 'a.png'), join(folder, 'cat', 'z.png'));
    const renamed = await scanOnce();
    expect(renamed.reused).toBe(false);
    expect(renamed.images.map((i) => i.relativePath)).toEqual(['cat/b.png', 'cat/z.png', 'dog/c.png', 'dog/deep/d.png', 'dog/deep/e.png']);

    await backdateDirectories(folder);
    await scanOnce();
    await rm(join(folder, 'dog'), { recursive: true });
    const removed = await scanOnce();
    expect(removed.reused).toBe(false);
    expect(removed.classes).toEqual(['cat']);
  });

  it('never reuses a scan of a folder changed just before it (coarse timestamps), nor a corrupt manifest', async () => {
    // Fresh folder: its directories were written within the last 2 s.
    await scanOnce();
    expect((await scanOnce()).reused).toBe(false);
    await backdateDirectories(folder);
    await scanOnce();
    const manifest = await scanManifestPath(folder, { excludeDirectories: [cache], manifestDirectory: cache });
    await writeFile(manifest, '{"version":1,"folder":');
    expect((await scanOnce()).reused).toBe(false);
    expect((await scanOnce()).reused).toBe(true); // rewritten by the fresh scan
  });

  it('streams throttled progress (at most ~10 a second) while walking many folders', async () => {
    const wide = join(dir, 'wide');
    for (let i = 0; i < 150; i++) await mkdir(join(wide, `d${String(i).padStart(3, '0')}`), { recursive: true });
    await Promise.all(Array.from({ length: 150 }, (_, i) => writeFile(join(wide, `d${String(i).padStart(3, '0')}`, 'x.png'), 'x')));
    const events: ScanOnceProgress[] = [];
    const started = performance.now();
    await scanImageFolderOnce(wide, { manifestDirectory: cache, onProgress: (p) => events.push(p) });
    const seconds = (performance.now() - started) / 1000;
    expect(events.at(-1)).toEqual({ files: 150, folders: 151, done: true, reused: false });
    expect(events.filter((e) => !e.done).length).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 1);
    for (let i = 1; i < events.length; i++) expect(events[i]!.files).toBeGreaterThanOrEqual(events[i - 1]!.files);
  });
});

describe('checkImageFolder (the folder check before Start, issue 12 item 1)', () => {
  it('reads each candidate\'s first bytes: three text files named .jpg and one PNG are 1 image, 3 skipped', async () => {
    const mixed = join(dir, 'mixed');
    await mkdir(mixed);
    for (const name of ['a.jpg', 'b.jpg', 'c.jpg']) await writeFile(join(mixed, name), 'just some text, not a JPEG\n');
    await writeFile(join(mixed, 'd.png'), Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    const phases: string[] = [];
    const check = await checkImageFolder(mixed, { cacheDirectory: cache, onProgress: (p) => { if (p.done) phases.push(`${p.phase} ${p.checked}/${p.total}`); } });
    expect(check.images.map((i) => i.relativePath)).toEqual(['d.png']);
    expect(check.candidates).toBe(4);
    expect(check.skipped.map((s) => [s.relativePath, s.reason])).toEqual(['a.jpg', 'b.jpg', 'c.jpg'].map((name) => [name, expect.stringMatching(/^not a supported image \(unrecognised contents\)/) as unknown]));
    expect(phases).toEqual(['listing 0/0', 'headers 4/4']);
    const sync = await checkImageFolder(mixed, { cacheDirectory: cache, syscalls: 'batched-sync' });
    expect(sync.skipped).toEqual(check.skipped);
    expect(sync.images).toEqual(check.images);
    expect(await readdir(join(cache, 'scans')).catch(() => [])).toHaveLength(0); // a fresh folder is racy: nothing stored
  });
});
