import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cacheEntryPath,
  cacheKey,
  decodeCacheEntry,
  encodeCacheEntry,
  prepareCacheDirectory,
  readCacheEntry,
  writeCacheEntry,
  type CacheKeyInput,
} from '../../../../main/core/images/cache.js';
import { makeTempDir, noiseRgb } from './corpus.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  await cleanup();
});

const image = { width: 5, height: 3, data: new Uint8Array(noiseRgb(5, 3)) };

describe('image cache entries', () => {
  it('round-trips an image through the entry format (24-byte header + RGB)', () => {
    const bytes = encodeCacheEntry(image);
    expect(bytes.length).toBe(24 + 5 * 3 * 3);
    expect(bytes.subarray(0, 8).toString('ascii')).toBe('MOCORGB1');
    expect([bytes.readUInt32LE(8), bytes.readUInt32LE(12)]).toEqual([5, 3]);
    const back = decodeCacheEntry(bytes);
    expect(back).not.toBeNull();
    expect([back!.width, back!.height]).toEqual([5, 3]);
    expect(Buffer.from(back!.data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('reads short, foreign or corrupt entries as misses', () => {
    const good = encodeCacheEntry(image);
    const variants: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['header only', good.subarray(0, 24)],
      ['one byte short', good.subarray(0, good.length - 1)],
      ['one byte long', Buffer.concat([good, Buffer.from([0])])],
    ];
    const badMagic = Buffer.from(good);
    badMagic[0] = 0x58;
    variants.push(['bad magic', badMagic]);
    const flipped = Buffer.from(good);
    flipped[30] = flipped[30]! ^ 1;
    variants.push(['pixel flipped', flipped]);
    const zeroWidth = Buffer.from(good);
    zeroWidth.writeUInt32LE(0, 8);
    variants.push(['zero width', zeroWidth]);
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0xffffffff, 8);
    variants.push(['huge width', huge]);
    for (const [name, bytes] of variants) expect(decodeCacheEntry(bytes), name).toBeNull();
  });

  it('refuses to encode an inconsistent image', () => {
    expect(() => encodeCacheEntry({ width: 2, height: 2, data: new Uint8Array(11) })).toThrow(RangeError);
    expect(() => encodeCacheEntry({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow(RangeError);
  });
});

describe('image cache keys', () => {
  const base: CacheKeyInput = { path: '/photos/a.jpg', size: 1234, mtimeMs: 1_700_000_000_123.456, storeSize: 128, pipeline: 'p1' };

  it('changes with path, size, mtime, storeSize and pipeline', () => {
    const key = cacheKey(base);
    expect(key).toMatch(/^[0-9a-f]{40}$/);
    expect(cacheKey({ ...base })).toBe(key);
    for (const change of [{ path: '/photos/b.jpg' }, { size: 1235 }, { mtimeMs: 1_700_000_000_123.457 }, { storeSize: 64 }, { pipeline: 'p2' }]) {
      expect(cacheKey({ ...base, ...change }), JSON.stringify(change)).not.toBe(key);
    }
  });

  it('uses the absolute path, so a relative spelling of the same file hits the same entry', () => {
    const absolute = join(process.cwd(), 'x', 'a.jpg');
    expect(cacheKey({ ...base, path: relative(process.cwd(), absolute) })).toBe(cacheKey({ ...base, path: absolute }));
  });
});

describe('image cache on disk', () => {
  it('writes atomically, reads back, overwrites, and misses on an absent entry', async () => {
    const cacheDir = join(dir, 'cache');
    await prepareCacheDirectory(cacheDir);
    await prepareCacheDirectory(cacheDir); // idempotent: the tag is kept, not an error
    expect(await readFile(join(cacheDir, 'CACHEDIR.TAG'), 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n/);

    const key = cacheKey({ path: join(dir, 'a.png'), size: 1, mtimeMs: 2, storeSize: 3, pipeline: 'p' });
    expect(await readCacheEntry(cacheDir, key)).toBeNull();
    await writeCacheEntry(cacheDir, key, image);
    expect(cacheEntryPath(cacheDir, key)).toBe(join(cacheDir, `${key}.rgb`));
    const back = await readCacheEntry(cacheDir, key);
    expect(back && Buffer.from(back.data).equals(Buffer.from(image.data))).toBe(true);

    const other = { width: 1, height: 1, data: new Uint8Array([1, 2, 3]) };
    await writeCacheEntry(cacheDir, key, other);
    expect([...(await readCacheEntry(cacheDir, key))!.data]).toEqual([1, 2, 3]);
    expect(new Set(await readdir(cacheDir))).toEqual(new Set(['CACHEDIR.TAG', `${key}.rgb`])); // no temporary file left
  });
});
