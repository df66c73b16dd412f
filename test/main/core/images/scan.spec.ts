import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareRelativePaths, scanImageFolder } from '../../../../main/core/images/scan.js';
import { makeTempDir } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  await cleanup();
});

async function touch(...parts: string[]): Promise<string> {
  const path = join(dir, ...parts);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, 'x');
  return path;
}

describe('scanImageFolder', () => {
  it('lists supported extensions case-insensitively and reports every other file as skipped', async () => {
    for (const name of ['a.jpg', 'b.JPEG', 'c.png', 'd.webp', 'e.gif', 'f.tif', 'g.TIFF', 'h.avif', 'i.Jpg']) await touch(name);
    for (const name of ['j.txt', 'k.bmp', 'l.heic', 'README', 'm.jpg.part']) await touch(name);
    const result = await scanImageFolder(dir);
    expect(result.images.map((i) => i.relativePath)).toEqual(['a.jpg', 'b.JPEG', 'c.png', 'd.webp', 'e.gif', 'f.tif', 'g.TIFF', 'h.avif', 'i.Jpg']);
    expect(result.skipped.map((s) => [s.relativePath, s.reason])).toEqual([
      ['README', 'unsupported type (no extension)'],
      ['j.txt', 'unsupported type .txt'],
      ['k.bmp', 'unsupported type .bmp'],
      ['l.heic', 'unsupported type .heic'],
      ['m.jpg.part', 'unsupported type .part'],
    ]);
    const first = result.images[0]!;
    expect(first).toMatchObject({ path: join(dir, 'a.jpg'), className: null, size: 1 });
    expect(first.mtimeMs).toBeGreaterThan(0);
  });

  it('skips hidden files and folders, and tagged cache folders, silently', async () => {
    await touch('.hidden.png');
    await touch('.git', 'objects', 'a.png');
    await touch('visible.png');
    await touch('thumbs', 'CACHEDIR.TAG');
    await touch('thumbs', 'inside.png');
    await touch('excluded', 'inside.png');
    const result = await scanImageFolder(dir, { excludeDirectories: [join(dir, 'excluded'), join(dir, 'does-not-exist')] });
    expect(result.images.map((i) => i.relativePath)).toEqual(['visible.png']);
    expect(result.skipped).toEqual([]);
  });

  it('follows symlinks, reports a directory loop as "symlink loop" and lists no file twice', async () => {
    await touch('real', 'a.png');
    await symlink(join(dir, 'real'), join(dir, 'real', 'self'), 'dir'); // dir/link -> dir
    await symlink('..', join(dir, 'real', 'up'), 'dir'); // a link to the root, relative
    await symlink(join(dir, 'real'), join(dir, 'alias'), 'dir'); // the same folder twice
    await symlink(join(dir, 'real', 'a.png'), join(dir, 'link-to-a.png')); // the same file twice
    await touch('outside', 'b.png');
    await symlink(join(dir, 'outside', 'b.png'), join(dir, 'real', 'b-link.png')); // a file link, followed
    await symlink(join(dir, 'missing.png'), join(dir, 'dangling.png'));
    const result = await scanImageFolder(dir);
    // The first path in scan order wins: "alias" sorts before "real" and "outside", so the folder
    // and the linked file are listed once, under alias/.
    expect(result.images.map((i) => i.relativePath)).toEqual(['alias/a.png', 'alias/b-link.png']);
    expect(result.skipped.map((s) => [s.relativePath, s.reason])).toEqual([
      ['alias/self', 'symlink loop: points back to alias'],
      ['alias/up', 'symlink loop: points back to .'],
      ['dangling.png', 'not found (ENOENT): deleted while loading, or a dangling symlink'],
      ['link-to-a.png', 'duplicate file: same as alias/a.png (symlink)'],
      ['outside/b.png', 'duplicate file: same as alias/b-link.png (symlink)'],
      ['real', 'duplicate directory: same as alias (symlink)'],
    ]);
  });

  it('reports FIFOs and other non-regular files instead of reading them', async () => {
    await touch('a.png');
    execFileSync('mkfifo', [join(dir, 'pipe.png')]);
    const result = await scanImageFolder(dir);
    expect(result.images.map((i) => i.relativePath)).toEqual(['a.png']);
    expect(result.skipped.map((s) => [s.relativePath, s.reason])).toEqual([['pipe.png', 'not a regular file']]);
  });

  it('takes classes from top-level subfolders when every image is in one', async () => {
    await touch('cat', 'a.png');
    await touch('cat', 'sub', 'b.png');
    await touch('dog', 'c.png');
    await touch('empty-class', 'notes.txt');
    await touch('loose.txt');
    const result = await scanImageFolder(dir);
    expect(result.classes).toEqual(['cat', 'dog']);
    expect(result.images.map((i) => [i.relativePath, i.className])).toEqual([['cat/a.png', 'cat'], ['cat/sub/b.png', 'cat'], ['dog/c.png', 'dog']]);
  });

  it('gives no classes when some images sit directly in the folder', async () => {
    await touch('cat', 'a.png');
    await touch('loose.png');
    const result = await scanImageFolder(dir);
    expect(result.classes).toEqual([]);
    expect(result.images.map((i) => i.className)).toEqual([null, null]);
  });

  it('orders by code units, component by component, and is repeatable', async () => {
    const names = ['b.png', 'B.png', 'a b.png', 'été photo 1.png', 'Été.png', 'a/z.png', 'a-b.png', 'a.png', '2.png', '10.png'];
    for (const name of names) await touch(...name.split('/'));
    const first = await scanImageFolder(dir);
    expect(first.images.map((i) => i.relativePath)).toEqual(['10.png', '2.png', 'B.png', 'a/z.png', 'a b.png', 'a-b.png', 'a.png', 'b.png', 'Été.png', 'été photo 1.png']);
    const second = await scanImageFolder(dir);
    expect(second).toEqual(first);
    expect(compareRelativePaths('a/z', 'a-b')).toBeLessThan(0);
    expect(compareRelativePaths('a', 'a/b')).toBeLessThan(0);
  });

  it('compares like a component-by-component comparison of the split paths', () => {
    // The reference definition; compareRelativePaths gets the same order without splitting (issue 14).
    const bySplit = (a: string, b: string): number => {
      const pa = a.split('/');
      const pb = b.split('/');
      for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
      return pa.length - pb.length;
    };
    const parts = ['a', 'a-b', 'a.b', 'a b', 'ab', 'A', 'é', '0', '10', ''];
    const paths = parts.flatMap((x) => [x, ...parts.map((y) => `${x}/${y}`), `${x}/a/b`]).filter((p) => p !== '' && !p.startsWith('/') && !p.endsWith('/') && !p.includes('//'));
    for (const a of paths) for (const b of paths) expect(Math.sign(compareRelativePaths(a, b)), `${a} vs ${b}`).toBe(Math.sign(bySplit(a, b)));
  });

  it('finds the same in every syscalls mode (worker thread, async, batched sync)', async () => {
    await touch('cat', 'a.png');
    await touch('cat', 'notes.txt');
    await touch('dog', 'deep', 'b.jpg');
    await touch('outside', 'c.png');
    await symlink(join(dir, 'cat', 'a.png'), join(dir, 'dog', 'again.png'));
    await symlink(join(dir, 'missing.png'), join(dir, 'dog', 'dangling.png'));
    await symlink('..', join(dir, 'dog', 'up'), 'dir');
    execFileSync('mkfifo', [join(dir, 'dog', 'pipe.png')]);
    const worker = await scanImageFolder(dir, { syscalls: 'worker' });
    expect(worker.images.map((i) => i.relativePath)).toEqual(['cat/a.png', 'dog/deep/b.jpg', 'outside/c.png']);
    expect(worker.images.every((i) => i.size === 1 && i.mtimeMs > 0)).toBe(true);
    expect(worker.skipped.map((s) => s.relativePath)).toEqual(['cat/notes.txt', 'dog/again.png', 'dog/dangling.png', 'dog/pipe.png', 'dog/up']);
    expect(await scanImageFolder(dir, { syscalls: 'parallel' })).toEqual(worker);
    expect(await scanImageFolder(dir, { syscalls: 'batched-sync' })).toEqual(worker);
    expect(await scanImageFolder(dir)).toEqual(worker); // 'worker' is the default
  });

  it('throws for a missing folder or a file, naming it', async () => {
    await expect(scanImageFolder(join(dir, 'missing'))).rejects.toThrow(`Image folder not found: ${join(dir, 'missing')}`);
    const file = await touch('file.png');
    await expect(scanImageFolder(file)).rejects.toThrow(`Image folder is not a directory: ${file}`);
  });
});
