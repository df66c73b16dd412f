/**
 * Hostile files against the real readers (issue 13): a FIFO where an image was, a 1.5 GB file
 * named .png, a file over the size limit, a tree 1000 folders deep, a name that is not UTF-8, and
 * a symlink out of the chosen folder. Real files, real FIFOs (mkfifo), real child processes.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile, ImageDecodeError } from '../../../../main/core/images/decode.js';
import { scanImageFolder } from '../../../../main/core/images/scan.js';
import { openRegularFile } from '../../../../main/core/safe-read.js';

const png = (size: number): Promise<Buffer> => sharp({ create: { width: size, height: size, channels: 3, background: { r: 9, g: 99, b: 199 } } }).png().toBuffer();

/** A sparse file of `bytes` (no disk space used) that starts with `head`. */
async function sparse(path: string, bytes: number, head: Buffer = Buffer.alloc(0)): Promise<void> {
  const handle = await open(path, 'w');
  await handle.write(head, 0, head.length, 0);
  await handle.truncate(bytes);
  await handle.close();
}

async function decodeReason(path: string, reads: 'async' | 'sync' = 'async', maxFileBytes?: number): Promise<string> {
  try {
    await decodeImageFile(path, { storeSize: 16, ...(maxFileBytes === undefined ? {} : { maxFileBytes }) }, reads);
  } catch (error) {
    if (error instanceof ImageDecodeError) return error.reason;
    throw error;
  }
  throw new Error(`${path} decoded`);
}

describe('hostile files (issue 13)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'moco-hostile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a FIFO swapped in for an image is refused at once, not read for ever', { timeout: 10_000 }, async () => {
    const fifo = join(dir, 'swapped.png');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect(await decodeReason(fifo)).toBe('not a regular file: a FIFO (named pipe)');
    await expect(openRegularFile(fifo)).rejects.toMatchObject({ code: 'not-regular' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('synchronous reads (the trainer\'s load, issue 14) refuse the same files with the same reasons and read the same pixels', { timeout: 20_000 }, async () => {
    const fifo = join(dir, 'sync-fifo.png');
    execFileSync('mkfifo', [fifo]);
    await writeFile(join(dir, 'sync-empty.png'), Buffer.alloc(0));
    await writeFile(join(dir, 'sync-notes.jpg'), 'just some text, not an image at all');
    await mkdir(join(dir, 'sync-folder.png'));
    await sparse(join(dir, 'sync-big-junk.png'), 3 * 1024 * 1024); // above the one-read size: head first
    const noise = Buffer.alloc(800 * 800 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const bigPng = await sharp(noise, { raw: { width: 800, height: 800, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    expect(bigPng.length).toBeGreaterThan(1024 * 1024);
    await writeFile(join(dir, 'sync-big.png'), bigPng);
    await writeFile(join(dir, 'sync-small.png'), await png(40));
    for (const name of ['sync-fifo.png', 'sync-empty.png', 'sync-notes.jpg', 'sync-folder.png', 'sync-big-junk.png', 'sync-missing.png']) {
      const path = join(dir, name);
      const reason = await decodeReason(path, 'sync');
      expect(reason, name).toBe(await decodeReason(path, 'async'));
    }
    expect(await decodeReason(join(dir, 'sync-fifo.png'), 'sync')).toBe('not a regular file: a FIFO (named pipe)');
    expect(await decodeReason(join(dir, 'sync-big.png'), 'sync', 1024 * 1024)).toBe(await decodeReason(join(dir, 'sync-big.png'), 'async', 1024 * 1024));
    expect(await decodeReason(join(dir, 'sync-big.png'), 'sync', 1024 * 1024)).toMatch(/^too large: the file is /);
    for (const name of ['sync-big.png', 'sync-small.png']) {
      const [a, b] = await Promise.all([decodeImageFile(join(dir, name), { storeSize: 16 }, 'async'), decodeImageFile(join(dir, name), { storeSize: 16 }, 'sync')]);
      expect([b.image.width, b.image.height, b.format]).toEqual([a.image.width, a.image.height, a.format]);
      expect(Buffer.from(b.image.data).equals(Buffer.from(a.image.data)), name).toBe(true);
    }
  });

  it('a 1.5 GB junk file named .png is refused from its first bytes: the decode stays far below its size in memory', async () => {
    const junk = join(dir, 'huge.png');
    await sparse(junk, 1.5 * 1024 ** 3);
    // In a fresh process, so that its peak RSS is this read's alone.
    const script = `import { decodeImageFile } from ${JSON.stringify(join(import.meta.dirname, '../../../../main/core/images/decode.ts'))};
      const reason = await decodeImageFile(process.argv[1], { storeSize: 16 }).then(() => 'decoded', (e) => e.reason);
      console.log(JSON.stringify({ reason, maxRssMb: process.resourceUsage().maxRSS / 1024 }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, junk], { maxBuffer: 1 << 20 });
    const { reason, maxRssMb } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { reason: string; maxRssMb: number };
    expect(reason).toBe('too large: the file is 1.50 GiB, the limit is 512.0 MiB');
    console.log(`1.5 GB junk .png: peak RSS ${maxRssMb.toFixed(0)} MB`);
    expect(maxRssMb).toBeLessThan(400); // main read it whole: ~1.7 GB
  });

  it('junk under the size limit is refused from its signature, without reading the rest', async () => {
    const junk = join(dir, 'junk.jpg');
    await sparse(junk, 400 * 1024 ** 2);
    const started = performance.now();
    expect(await decodeReason(junk)).toMatch(/^not a supported image \(unrecognised contents\): its first bytes are not those of a JPEG/);
    expect(performance.now() - started).toBeLessThan(1000); // reading 400 MB (main) takes longer, and as much memory
  });

  it('an image file over the size limit is refused with the limit, before it is read', async () => {
    const big = join(dir, 'big.png');
    await sparse(big, 600 * 1024 ** 2, (await png(16)).subarray(0, 64));
    expect(await decodeReason(big)).toBe('too large: the file is 600.0 MiB, the limit is 512.0 MiB');
  });

  it('scans a tree 1000 folders deep in linear time', async () => {
    const deep = join(dir, 'deep');
    const image = await png(8);
    let path = deep;
    const paths: string[] = [];
    for (let depth = 0; depth < 1000; depth++) {
      path = join(path, 'd');
      paths.push(path);
    }
    await mkdir(path, { recursive: true });
    for (let depth = 0; depth < 1000; depth += 100) await writeFile(join(paths[depth]!, 'x.png'), image);
    const started = performance.now();
    let progressCalls = 0;
    const scan = await scanImageFolder(deep, { onProgress: () => { progressCalls++; } });
    const seconds = (performance.now() - started) / 1000;
    console.log(`depth-1000 scan: ${seconds.toFixed(2)} s`);
    expect(scan.images).toHaveLength(10);
    expect(progressCalls).toBe(1001);
    expect(seconds).toBeLessThan(3); // main: ~9 s (a realpath of the whole path per entry, a copied ancestor set per folder)
  });

  it('a name that is not valid UTF-8 is skipped with that reason, not "not found"', async () => {
    const folder = join(dir, 'latin1');
    await mkdir(folder);
    writeFileSync(Buffer.concat([Buffer.from(`${folder}/caf`), Buffer.from([0xe9]), Buffer.from('.png')]), await png(16));
    await writeFile(join(folder, 'ok.png'), await png(16));
    const scan = await scanImageFolder(folder);
    expect(scan.images.map((i) => i.relativePath)).toEqual(['ok.png']);
    expect(scan.skipped).toHaveLength(1);
    expect(scan.skipped[0]!.reason).toMatch(/^the name is not valid UTF-8 \(bytes 636166e92e706e67\); rename the file/);
  });

  it('does not follow a symlink out of the chosen folder (file or folder); links inside it still count', async () => {
    const outside = join(dir, 'outside');
    const folder = join(dir, 'chosen');
    await mkdir(outside);
    await mkdir(join(folder, 'sub'), { recursive: true });
    await writeFile(join(outside, 'secret.png'), await png(16));
    await writeFile(join(folder, 'sub', 'mine.png'), await png(16));
    await symlink(join(outside, 'secret.png'), join(folder, 'leak.png'));
    await symlink(outside, join(folder, 'leak-dir'), 'dir');
    await symlink(join(folder, 'sub', 'mine.png'), join(folder, 'alias.png'));
    const scan = await scanImageFolder(folder);
    expect(scan.images.map((i) => i.relativePath)).toEqual(['alias.png']);
    expect(scan.skipped.map((s) => [s.relativePath, s.reason])).toEqual([
      ['leak-dir', `symlink to ${outside}, outside the folder: not followed`],
      ['leak.png', `symlink to ${join(outside, 'secret.png')}, outside the folder: not followed`],
      ['sub/mine.png', 'duplicate file: same as alias.png (symlink)'],
    ]);
  });
});
