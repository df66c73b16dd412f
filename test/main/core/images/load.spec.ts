import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadImageFolder } from '../../../../main/core/images/load.js';
import { isRoot, makeTempDir, pixel, pngOf, writeBadInputCorpus } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  await cleanup();
});

describe('loadImageFolder: bad-input corpus', () => {
  it('skips each bad file with its reason, uses each good one correctly, and finishes', async () => {
    const folder = join(dir, 'corpus');
    await mkdir(folder);
    const expected = await writeBadInputCorpus(folder);
    const progress: [number, number][] = [];
    const result = await loadImageFolder(folder, { storeSize: 64, cacheDir: join(dir, 'cache'), onProgress: (done, total) => progress.push([done, total]) });

    const items = new Map(result.items.map((item) => [item.relativePath, item]));
    const skipped = new Map(result.skipped.map((s) => [s.relativePath, s]));
    for (const [name, expectation] of expected) {
      if (expectation.kind === 'silent') {
        expect(items.has(name) || skipped.has(name), `${name} must be ignored silently`).toBe(false);
      } else if (expectation.kind === 'skipped') {
        expect(items.has(name), `${name} must not be used`).toBe(false);
        const entry = skipped.get(name);
        expect(entry, `${name} must be reported as skipped`).toBeDefined();
        expect(entry!.reason, name).toMatch(expectation.reason);
        expect(entry!.path, name).toBe(join(folder, name));
      } else {
        const item = items.get(name);
        expect(item, `${name} must be used (skipped: ${skipped.get(name)?.reason ?? '-'})`).toBeDefined();
        const { width, height, data } = item!.image;
        expect([width, height], name).toEqual([expectation.width, expectation.height]);
        expect(data.length, name).toBe(width * height * 3);
        expectation.check?.(data, width);
      }
    }
    // Nothing unexpected came out either.
    const accounted = new Set(expected.keys());
    for (const name of [...items.keys(), ...skipped.keys()]) expect(accounted.has(name), `unexpected entry ${name}`).toBe(true);

    const usedCount = [...expected.values()].filter((e) => e.kind === 'used').length;
    const imageFiles = [...expected.entries()].filter(([name, e]) => e.kind !== 'silent' && /\.(jpe?g|png|gif)$/i.test(name)).length;
    expect(result.items).toHaveLength(usedCount);
    expect(result.stats).toMatchObject({ found: imageFiles, decoded: usedCount, fromCache: 0, skipped: result.skipped.length });
    expect(result.classes).toEqual([]);
    expect(result.items.every((item) => item.className === null)).toBe(true);
    expect(progress[0]).toEqual([0, imageFiles]);
    expect(progress.at(-1)).toEqual([imageFiles, imageFiles]);
    expect(progress.map(([done]) => done)).toEqual(Array.from({ length: imageFiles + 1 }, (_, i) => i));
  });
});

async function writePng(path: string, width: number, height: number, rgb: readonly [number, number, number]): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, await pngOf(width, height, rgb));
}

async function cacheEntries(cacheDir: string): Promise<string[]> {
  return (await readdir(cacheDir)).filter((name) => name.endsWith('.rgb')).sort();
}

describe('loadImageFolder: cache', () => {
  it('serves the second load from the disk cache with identical pixels', async () => {
    const folder = join(dir, 'images');
    const cacheDir = join(dir, 'cache');
    for (let i = 0; i < 5; i++) await writePng(join(folder, `img${i}.png`), 40 + i, 30, [i * 40, 100, 200 - i * 30]);
    const first = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(first.stats).toMatchObject({ found: 5, decoded: 5, fromCache: 0, skipped: 0 });
    expect(await cacheEntries(cacheDir)).toHaveLength(5);
    expect((await readFile(join(cacheDir, 'CACHEDIR.TAG'), 'utf8')).startsWith('Signature: 8a477f597d28d172789f06886806bc55')).toBe(true);

    const second = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(second.stats).toMatchObject({ found: 5, decoded: 0, fromCache: 5, skipped: 0 });
    expect(second.items.map((item) => item.relativePath)).toEqual(first.items.map((item) => item.relativePath));
    for (let i = 0; i < 5; i++) {
      const a = first.items[i]!.image;
      const b = second.items[i]!.image;
      expect([b.width, b.height]).toEqual([a.width, a.height]);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    }
    // Shorter side 30 -> 16, aspect kept: 40x30 -> 21x16.
    expect([first.items[0]!.image.width, first.items[0]!.image.height]).toEqual([21, 16]);

    // Another storeSize is another cache entry, not a wrong hit.
    const other = await loadImageFolder(folder, { storeSize: 8, cacheDir });
    expect(other.stats).toMatchObject({ decoded: 5, fromCache: 0 });
    expect(other.items[0]!.image.height).toBe(8);
  });

  it('decodes a file again when its mtime changes (and picks up new content)', async () => {
    const folder = join(dir, 'images');
    const cacheDir = join(dir, 'cache');
    await writePng(join(folder, 'a.png'), 20, 20, [10, 20, 30]);
    await writePng(join(folder, 'b.png'), 20, 20, [40, 50, 60]);
    await loadImageFolder(folder, { storeSize: 16, cacheDir });

    const later = new Date(Date.now() + 60_000);
    await utimes(join(folder, 'a.png'), later, later);
    const touched = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(touched.stats).toMatchObject({ decoded: 1, fromCache: 1 });

    // Same size, new pixels, new mtime: the new pixels are used, not the cached copy.
    const before = await stat(join(folder, 'b.png'));
    await writePng(join(folder, 'b.png'), 20, 20, [200, 150, 100]);
    expect((await stat(join(folder, 'b.png'))).size).toBe(before.size);
    const even = new Date(Date.now() + 120_000);
    await utimes(join(folder, 'b.png'), even, even);
    const edited = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(edited.stats).toMatchObject({ decoded: 1, fromCache: 1 });
    expect(pixel(edited.items[1]!.image.data, 16, 3, 3)).toEqual([200, 150, 100]);
  });

  it('ignores and rebuilds corrupt or short cache entries', async () => {
    const folder = join(dir, 'images');
    const cacheDir = join(dir, 'cache');
    for (let i = 0; i < 4; i++) await writePng(join(folder, `img${i}.png`), 24, 24, [i * 50, 0, 0]);
    const first = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    const entries = await cacheEntries(cacheDir);
    expect(entries).toHaveLength(4);

    const truncated = join(cacheDir, entries[0]!);
    await writeFile(truncated, (await readFile(truncated)).subarray(0, 30));
    const flipped = join(cacheDir, entries[1]!);
    const bytes = await readFile(flipped);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff; // same length, one pixel byte wrong
    await writeFile(flipped, bytes);
    await writeFile(join(cacheDir, entries[2]!), 'garbage');

    const second = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(second.stats).toMatchObject({ decoded: 3, fromCache: 1, skipped: 0 });
    for (let i = 0; i < 4; i++) expect(Buffer.from(second.items[i]!.image.data).equals(Buffer.from(first.items[i]!.image.data))).toBe(true);
    const third = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(third.stats).toMatchObject({ decoded: 0, fromCache: 4 });
    // Atomic writes leave no temporary files behind.
    expect((await readdir(cacheDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('never scans a cache directory kept inside the image folder', async () => {
    const folder = join(dir, 'images');
    await writePng(join(folder, 'a.png'), 20, 20, [1, 1, 1]);
    const cacheDir = join(folder, 'cache');
    await loadImageFolder(folder, { storeSize: 16, cacheDir });
    const again = await loadImageFolder(folder, { storeSize: 16, cacheDir });
    expect(again.skipped).toEqual([]);
    expect(again.stats).toMatchObject({ found: 1, fromCache: 1 });
    // Even when a later run uses another cache directory, the tagged one is left alone.
    const other = await loadImageFolder(folder, { storeSize: 16, cacheDir: join(dir, 'elsewhere') });
    expect(other.skipped).toEqual([]);
    expect(other.items.map((item) => item.relativePath)).toEqual(['a.png']);
  });

  it('goes on without a cache it cannot create, with a warning', async () => {
    const folder = join(dir, 'images');
    await writePng(join(folder, 'a.png'), 20, 20, [1, 1, 1]);
    const notADirectory = join(dir, 'file');
    await writeFile(notADirectory, 'x');
    const warnings: string[] = [];
    const result = await loadImageFolder(folder, { storeSize: 16, cacheDir: join(notADirectory, 'cache'), onWarning: (m) => warnings.push(m) });
    expect(result.stats).toMatchObject({ decoded: 1, fromCache: 0 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/image cache .* unusable/);
  });
});

describe('loadImageFolder: classes, order, errors', () => {
  it('detects classes from subfolders', async () => {
    const folder = join(dir, 'images');
    await writePng(join(folder, 'dog', 'd1.png'), 12, 12, [1, 1, 1]);
    await writePng(join(folder, 'cat', 'c1.png'), 12, 12, [2, 2, 2]);
    await writePng(join(folder, 'cat', 'deeper', 'c2.png'), 12, 12, [3, 3, 3]);
    await writeFile(join(folder, 'notes.txt'), 'a loose non-image file does not undo the class layout');
    await mkdir(join(folder, 'empty'));
    const result = await loadImageFolder(folder, { storeSize: 16, cacheDir: join(dir, 'cache') });
    expect(result.classes).toEqual(['cat', 'dog']);
    expect(result.items.map((item) => [item.relativePath, item.className])).toEqual([
      ['cat/c1.png', 'cat'],
      ['cat/deeper/c2.png', 'cat'],
      ['dog/d1.png', 'dog'],
    ]);
    expect(result.skipped.map((s) => s.relativePath)).toEqual(['notes.txt']);
  });

  it('reports a class only when it has a usable image', async () => {
    const folder = join(dir, 'images');
    await writePng(join(folder, 'cat', 'c1.png'), 12, 12, [2, 2, 2]);
    await mkdir(join(folder, 'owl'));
    await writeFile(join(folder, 'owl', 'o1.png'), 'broken');
    const result = await loadImageFolder(folder, { storeSize: 16, cacheDir: join(dir, 'cache') });
    expect(result.classes).toEqual(['cat']);
    expect(result.skipped.map((s) => s.relativePath)).toEqual(['owl/o1.png']);
  });

  it('returns items in code-unit order of their relative paths, whatever the concurrency', async () => {
    const folder = join(dir, 'images');
    const names = ['b.png', 'B.png', 'a.png', 'Z.png', 'ä.png', 'a-b.png', '10.png', '9.png', 'é/x.png', 'a/x.png', 'a/A.png'];
    for (const [i, name] of names.entries()) await writePng(join(folder, name), 10, 10, [i, i, i]);
    // Component by component: folder "a" sorts before "a-b.png" and "a.png", keeping its contents together.
    const expected = ['10.png', '9.png', 'B.png', 'Z.png', 'a/A.png', 'a/x.png', 'a-b.png', 'a.png', 'b.png', 'ä.png', 'é/x.png'];
    for (const concurrency of [1, 3, 16]) {
      const result = await loadImageFolder(folder, { storeSize: 16, cacheDir: join(dir, `cache${concurrency}`), concurrency });
      expect(result.items.map((item) => item.relativePath)).toEqual(expected);
    }
  });

  it('throws a clear error naming the folder when it is missing, not a directory, or has no usable image', async () => {
    const cacheDir = join(dir, 'cache');
    const missing = join(dir, 'nope');
    await expect(loadImageFolder(missing, { storeSize: 16, cacheDir })).rejects.toThrow(`Image folder not found: ${missing}`);
    const file = join(dir, 'a-file.png');
    await writeFile(file, await pngOf(10, 10, [0, 0, 0]));
    await expect(loadImageFolder(file, { storeSize: 16, cacheDir })).rejects.toThrow(`Image folder is not a directory: ${file}`);
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await expect(loadImageFolder(empty, { storeSize: 16, cacheDir })).rejects.toThrow(`No usable image in ${empty}: 0 image file(s) found, 0 skipped`);
    const bad = join(dir, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, 'x.jpg'), 'text');
    await writeFile(join(bad, 'y.txt'), 'text');
    await expect(loadImageFolder(bad, { storeSize: 16, cacheDir })).rejects.toThrow(
      /^No usable image in .*bad: 1 image file\(s\) found, 2 skipped \(x\.jpg: not a supported image .*; y\.txt: unsupported type \.txt\)$/,
    );
  });

  it('rejects invalid options', async () => {
    await expect(loadImageFolder(dir, { storeSize: 0, cacheDir: join(dir, 'c') })).rejects.toThrow(RangeError);
    await expect(loadImageFolder(dir, { storeSize: 16, cacheDir: join(dir, 'c'), concurrency: 0 })).rejects.toThrow(/concurrency/);
  });
});

describe('loadImageFolder: unreadable files (permission)', () => {
  const childScript = `
    const { loadImageFolder } = await import(process.argv[1]);
    const r = await loadImageFolder(process.argv[2], { storeSize: 16, cacheDir: process.argv[3] });
    console.log(JSON.stringify({ uid: process.getuid(), used: r.items.map((i) => i.relativePath), skipped: r.skipped }));
  `;

  // chmod 000 does not stop root, which these tests usually run as. Then the load runs in a child
  // process as the unprivileged user "nobody" (uid 65534), where permissions are enforced.
  it('skips an unreadable file and an unreadable subfolder with "permission denied" and finishes', async () => {
    const folder = join(dir, 'images');
    await writePng(join(folder, 'ok.png'), 12, 12, [5, 5, 5]);
    await writePng(join(folder, 'locked.png'), 12, 12, [6, 6, 6]);
    await writePng(join(folder, 'closed', 'inside.png'), 12, 12, [7, 7, 7]);
    await chmod(join(folder, 'locked.png'), 0o000);
    await chmod(join(folder, 'closed'), 0o000);
    const cacheDir = join(dir, 'cache');
    let outcome: { uid: number; used: string[]; skipped: { relativePath: string; reason: string }[] };
    if (isRoot) {
      // The child must reach the files: the temp dir (0700 from mkdtemp) is opened to others.
      await chmod(dir, 0o755);
      await chmod(folder, 0o755);
      await mkdir(cacheDir, { mode: 0o777 });
      await chmod(cacheDir, 0o777);
      const loadModule = new URL('../../../../main/core/images/load.ts', import.meta.url).pathname;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childScript, loadModule, folder, cacheDir], {
        uid: 65534, gid: 65534, encoding: 'utf8', timeout: 30_000, cwd: new URL('../../../../', import.meta.url).pathname,
      });
      expect(child.status, child.stderr).toBe(0);
      outcome = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as typeof outcome;
      expect(outcome.uid).toBe(65534);
    } else {
      const result = await loadImageFolder(folder, { storeSize: 16, cacheDir });
      outcome = { uid: -1, used: result.items.map((i) => i.relativePath), skipped: result.skipped };
    }
    expect(outcome.used).toEqual(['ok.png']);
    expect(outcome.skipped.map((s) => [s.relativePath, s.reason])).toEqual([
      ['closed', 'directory unreadable: permission denied (EACCES)'],
      ['locked.png', 'unreadable: permission denied (EACCES)'],
    ]);
  });
});
