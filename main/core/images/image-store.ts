/**
 * The decoded-image store of issue 14: a folder's decoded, downscaled images in one file on disk,
 * read per batch with positioned reads, so the trainer's memory is bounded by the batch and the
 * model, not by the number of images (at 100k images of 64 px the pixels alone were 1.2 GB held
 * in RAM; at 1M, 12 GB). Plain Node has no mmap; the OS page cache does that job for us.
 *
 * File layout, little-endian (`<cacheDir>/stores/<contentKey>.pack`):
 *   0-7    magic "MOCOPAK1"
 *   8-11   format version (u32)
 *   12-15  record count (u32)
 *   16-23  index offset (u64): the index follows the last record
 *   24-31  index length in bytes (u64)
 *   32-63  sha256 of the index
 *   64-    records (RGB, HWC, width * height * 3 bytes each), in the order their decodes finished
 *   index  per record 24 bytes: offset (u64), width (u32), height (u32), crc32 of the pixels (u32),
 *          4 bytes zero; then per record its 20-byte per-image cache key (cache.ts; zeros when the
 *          writer was given none); then UTF-8 JSON `{ "contentKey": ..., "failures": [[entry, reason], ...] }`
 * The keys let the folder's next store take unchanged images from this one instead of decoding
 * them (folder-store.ts): the store is the decoded-image cache, no file per image is written.
 * The header is written last, then the file is fsync'ed and renamed into place: a crash leaves the
 * previous store or none, never a partial one under the final name. A store that is short, of
 * another version, whose index digest or any record's CRC does not match reads as corrupt; the
 * loader deletes it and builds it again (a CRC mismatch in the middle of a run is an error that
 * names the file; the resumed run rebuilds it).
 */
import { randomBytes, createHash } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { RgbImage } from '../../ml/augment.js';
import type { ImageSource } from '../../ml/image-source.js';

const MAGIC = Buffer.from('MOCOPAK1', 'ascii');
const FORMAT_VERSION = 2; // 2: the per-record cache keys (issue 14)
const HEADER_BYTES = 64;
const INDEX_RECORD_BYTES = 24;
const KEY_BYTES = 20;
/** Records are gathered into writes of about this size (one positioned write per image was a syscall each). */
const WRITE_CHUNK_BYTES = 1 << 20;
const MAX_SIDE = 65_535;

/** A store that cannot be used as it is: the message names the file and the reason. */
export class ImageStoreCorruptError extends Error {
  /** `outdated`: written by another format version (an upgrade), not damaged; rebuilt without a warning. */
  constructor(readonly path: string, reason: string, readonly outdated = false) {
    super(`decoded-image store ${path} is unusable (${reason}); it is deleted and rebuilt on the next load`);
    this.name = 'ImageStoreCorruptError';
  }
}

/** Where each entry's record lies, by entry number (scan order); width 0 = no record (the entry failed). */
interface RecordTable {
  readonly offsets: Float64Array;
  readonly widths: Uint16Array;
  readonly heights: Uint16Array;
  readonly crcs: Uint32Array;
}

function recordTable(entries: number): RecordTable {
  return { offsets: new Float64Array(entries), widths: new Uint16Array(entries), heights: new Uint16Array(entries), crcs: new Uint32Array(entries) };
}

const CACHE_KEY = /^[0-9a-f]{40}$/;

/**
 * Writes a store: records in any order (`write(entry, image, key)` as decodes finish), failures by
 * entry, then `finish()` renames it into place. `abort()` removes the temporary file. Records are
 * gathered in memory into writes of about 1 MiB, written in order one at a time.
 */
export class ImageStoreWriter {
  private readonly table: RecordTable;
  private readonly keys: Buffer;
  private readonly failures = new Map<number, string>();
  private end = HEADER_BYTES;
  private chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  private chunkStart = HEADER_BYTES;
  private chunkUsed = 0;
  private writes: Promise<void> = Promise.resolve();

  private constructor(private readonly handle: FileHandle, private readonly temporaryPath: string, readonly path: string, readonly entries: number) {
    this.table = recordTable(entries);
    this.keys = Buffer.alloc(entries * KEY_BYTES);
  }

  static async create(path: string, entries: number): Promise<ImageStoreWriter> {
    const temporaryPath = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    return new ImageStoreWriter(await open(temporaryPath, 'wx'), temporaryPath, path, entries);
  }

  /** Appends entry `entry`'s pixels (copied: the caller may reuse `image`), with its per-image cache key (40 hex digits) when given. */
  async write(entry: number, image: RgbImage, key?: string): Promise<void> {
    const { width, height, data } = image;
    if (!Number.isInteger(entry) || entry < 0 || entry >= this.entries) throw new RangeError(`image store: entry ${entry} outside 0..${this.entries - 1}`);
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE || data.length !== width * height * 3) {
      throw new RangeError(`image store: bad image ${width}x${height} with ${data.length} bytes for entry ${entry}`);
    }
    if (key !== undefined) {
      if (!CACHE_KEY.test(key)) throw new RangeError(`image store: bad cache key ${JSON.stringify(key)} for entry ${entry}`);
      this.keys.write(key, entry * KEY_BYTES, KEY_BYTES, 'hex');
    }
    const offset = this.end;
    this.end += data.length;
    this.table.offsets[entry] = offset;
    this.table.widths[entry] = width;
    this.table.heights[entry] = height;
    this.table.crcs[entry] = crc32(data);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    if (this.chunkUsed + bytes.length <= this.chunk.length) {
      bytes.copy(this.chunk, this.chunkUsed);
      this.chunkUsed += bytes.length;
      return;
    }
    this.flushChunk(); // the chunk now starts at `offset`
    if (bytes.length > this.chunk.length) {
      this.queueWrite(Buffer.from(bytes), offset);
      this.chunkStart = this.end;
    } else {
      bytes.copy(this.chunk, 0);
      this.chunkUsed = bytes.length;
    }
    await this.writes; // at most one chunk gathered while one is written
  }

  fail(entry: number, reason: string): void {
    this.failures.set(entry, reason);
  }

  /** Index, header, fsync, rename: only now does the store exist under its name. */
  async finish(contentKey: string): Promise<void> {
    this.flushChunk();
    await this.writes;
    const binary = Buffer.alloc(this.entries * INDEX_RECORD_BYTES);
    for (let entry = 0; entry < this.entries; entry++) {
      if (this.table.widths[entry] === 0) continue;
      const at = entry * INDEX_RECORD_BYTES;
      binary.writeBigUInt64LE(BigInt(this.table.offsets[entry]!), at);
      binary.writeUInt32LE(this.table.widths[entry]!, at + 8);
      binary.writeUInt32LE(this.table.heights[entry]!, at + 12);
      binary.writeUInt32LE(this.table.crcs[entry]!, at + 16);
    }
    const index = Buffer.concat([binary, this.keys, Buffer.from(JSON.stringify({ contentKey, failures: [...this.failures] }), 'utf8')]);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(FORMAT_VERSION, 8);
    header.writeUInt32LE(this.entries, 12);
    header.writeBigUInt64LE(BigInt(this.end), 16);
    header.writeBigUInt64LE(BigInt(index.length), 24);
    createHash('sha256').update(index).digest().copy(header, 32);
    await writeFully(this.handle, index, this.end);
    await writeFully(this.handle, header, 0);
    await this.handle.sync();
    await this.handle.close();
    await rename(this.temporaryPath, this.path);
  }

  async abort(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await unlink(this.temporaryPath).catch(() => undefined);
  }

  /** Starts writing the gathered records; the next chunk starts where they end. */
  private flushChunk(): void {
    if (this.chunkUsed > 0) {
      this.queueWrite(this.chunk.subarray(0, this.chunkUsed), this.chunkStart);
      this.chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
    }
    this.chunkStart += this.chunkUsed;
    this.chunkUsed = 0;
  }

  private queueWrite(bytes: Buffer, position: number): void {
    this.writes = this.writes.then(() => writeFully(this.handle, bytes, position));
  }
}

async function writeFully(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}

/**
 * An open store: `read(indices)` returns the usable images at those positions (0..count-1, in
 * scan order), each batch in one buffer of its own. Nothing else is kept in memory but the record
 * table (typed arrays, 16 bytes an entry): no object per image.
 */
export class ImageStore implements ImageSource {
  /** Entry number (scan order, all candidates) of each usable image, ascending. */
  readonly entries: Int32Array;
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly table: RecordTable,
    private readonly keysOffset: number,
    readonly contentKey: string,
    readonly failures: ReadonlyMap<number, string>,
  ) {
    let usable = 0;
    for (const width of table.widths) if (width !== 0) usable++;
    this.entries = new Int32Array(usable);
    let at = 0;
    table.widths.forEach((width, entry) => { if (width !== 0) this.entries[at++] = entry; });
  }

  get count(): number {
    return this.entries.length;
  }

  /** Opens and checks a store (header, size, index digest); throws ImageStoreCorruptError, or the fs error (ENOENT). */
  static async open(path: string): Promise<ImageStore> {
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const header = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
      if (bytesRead < HEADER_BYTES || !header.subarray(0, 8).equals(MAGIC)) throw new ImageStoreCorruptError(path, 'not a store, or its header is missing');
      if (header.readUInt32LE(8) !== FORMAT_VERSION) throw new ImageStoreCorruptError(path, `format version ${header.readUInt32LE(8)}, expected ${FORMAT_VERSION}`, true);
      const entries = header.readUInt32LE(12);
      const indexOffset = Number(header.readBigUInt64LE(16));
      const indexLength = Number(header.readBigUInt64LE(24));
      const tableBytes = entries * (INDEX_RECORD_BYTES + KEY_BYTES);
      if (indexOffset < HEADER_BYTES || indexLength < tableBytes || indexOffset + indexLength !== size) {
        throw new ImageStoreCorruptError(path, `truncated or extended: ${size} bytes, the header says ${indexOffset + indexLength}`);
      }
      const index = Buffer.alloc(indexLength);
      await handle.read(index, 0, indexLength, indexOffset);
      if (!createHash('sha256').update(index).digest().equals(header.subarray(32, 64))) throw new ImageStoreCorruptError(path, 'index checksum mismatch');
      const table = recordTable(entries);
      for (let entry = 0; entry < entries; entry++) {
        const at = entry * INDEX_RECORD_BYTES;
        const width = index.readUInt32LE(at + 8);
        const height = index.readUInt32LE(at + 12);
        const offset = Number(index.readBigUInt64LE(at));
        if (width === 0 && height === 0) continue;
        if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE || offset < HEADER_BYTES || offset + width * height * 3 > indexOffset) {
          throw new ImageStoreCorruptError(path, `record ${entry} lies outside the records`);
        }
        table.offsets[entry] = offset;
        table.widths[entry] = width;
        table.heights[entry] = height;
        table.crcs[entry] = index.readUInt32LE(at + 16);
      }
      const trailer = JSON.parse(index.subarray(tableBytes).toString('utf8')) as { contentKey: string; failures: [number, string][] };
      return new ImageStore(path, handle, table, indexOffset + entries * INDEX_RECORD_BYTES, trailer.contentKey, new Map(trailer.failures));
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** The usable position of entry `entry` (its scan index), or -1 when the store has no image for it. */
  positionOf(entry: number): number {
    let low = 0;
    let high = this.entries.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const value = this.entries[middle]!;
      if (value === entry) return middle;
      if (value < entry) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /** The per-image cache key of each entry (20 bytes each, zeros where none was written), read from the file now. */
  async readKeys(): Promise<Buffer> {
    const keys = Buffer.alloc(this.table.widths.length * KEY_BYTES);
    const { bytesRead } = await this.handle.read(keys, 0, keys.length, this.keysOffset);
    if (bytesRead !== keys.length) throw new ImageStoreCorruptError(this.path, 'its cache keys are short');
    return keys;
  }

  /** The images at usable positions `indices` (as many as given, in that order). */
  async read(indices: ArrayLike<number>): Promise<RgbImage[]> {
    const picked: number[] = [];
    let total = 0;
    for (let i = 0; i < indices.length; i++) {
      const position = indices[i]!;
      if (!Number.isInteger(position) || position < 0 || position >= this.count) throw new RangeError(`image store: no image at position ${position} (${this.count} images)`);
      const entry = this.entries[position]!;
      picked.push(entry);
      total += this.table.widths[entry]! * this.table.heights[entry]! * 3;
    }
    // One buffer per batch: the batch's images are views of it and go away with it.
    const batch = Buffer.allocUnsafe(total);
    let at = 0;
    const views = picked.map((entry) => {
      const view = batch.subarray(at, at + this.table.widths[entry]! * this.table.heights[entry]! * 3);
      at += view.length;
      return view;
    });
    await Promise.all(picked.map(async (entry, i) => {
      const view = views[i]!;
      const offset = this.table.offsets[entry]!;
      const { bytesRead } = await this.handle.read(view, 0, view.length, offset);
      if (bytesRead !== view.length || crc32(view) !== this.table.crcs[entry]) {
        await unlink(this.path).catch(() => undefined);
        throw new ImageStoreCorruptError(this.path, `record at byte ${offset} ${bytesRead !== view.length ? 'is short' : 'fails its CRC check'}`);
      }
    }));
    return picked.map((entry, i) => {
      const view = views[i]!;
      return { width: this.table.widths[entry]!, height: this.table.heights[entry]!, data: new Uint8Array(view.buffer, view.byteOffset, view.length) };
    });
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
