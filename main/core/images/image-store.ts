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
 *          4 bytes zero; then UTF-8 JSON `{ "contentKey": ..., "failures": [[entry, reason], ...] }`
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
const FORMAT_VERSION = 1;
const HEADER_BYTES = 64;
const INDEX_RECORD_BYTES = 24;
const MAX_SIDE = 65_535;

/** A store that cannot be used as it is: the message names the file and the reason. */
export class ImageStoreCorruptError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`decoded-image store ${path} is unusable (${reason}); it is deleted and rebuilt on the next load`);
    this.name = 'ImageStoreCorruptError';
  }
}

interface RecordLocation {
  offset: number;
  width: number;
  height: number;
  crc: number;
}

/**
 * Writes a store: records in any order (`write(entry, image)` as decodes finish), failures by
 * entry, then `finish()` renames it into place. `abort()` removes the temporary file.
 */
export class ImageStoreWriter {
  private readonly locations: (RecordLocation | undefined)[];
  private readonly failures = new Map<number, string>();
  private end = HEADER_BYTES;

  private constructor(private readonly handle: FileHandle, private readonly temporaryPath: string, readonly path: string, readonly entries: number) {
    this.locations = new Array<RecordLocation | undefined>(entries);
  }

  static async create(path: string, entries: number): Promise<ImageStoreWriter> {
    const temporaryPath = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    return new ImageStoreWriter(await open(temporaryPath, 'wx'), temporaryPath, path, entries);
  }

  /** Appends entry `entry`'s pixels; the space is claimed before the write, so writes may overlap. */
  async write(entry: number, image: RgbImage): Promise<void> {
    const { width, height, data } = image;
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE || data.length !== width * height * 3) {
      throw new RangeError(`image store: bad image ${width}x${height} with ${data.length} bytes for entry ${entry}`);
    }
    const offset = this.end;
    this.end += data.length;
    this.locations[entry] = { offset, width, height, crc: crc32(data) };
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, offset + written);
      written += bytesWritten;
    }
  }

  fail(entry: number, reason: string): void {
    this.failures.set(entry, reason);
  }

  /** Index, header, fsync, rename: only now does the store exist under its name. */
  async finish(contentKey: string): Promise<void> {
    const binary = Buffer.alloc(this.entries * INDEX_RECORD_BYTES);
    this.locations.forEach((location, entry) => {
      if (!location) return;
      const at = entry * INDEX_RECORD_BYTES;
      binary.writeBigUInt64LE(BigInt(location.offset), at);
      binary.writeUInt32LE(location.width, at + 8);
      binary.writeUInt32LE(location.height, at + 12);
      binary.writeUInt32LE(location.crc, at + 16);
    });
    const index = Buffer.concat([binary, Buffer.from(JSON.stringify({ contentKey, failures: [...this.failures] }), 'utf8')]);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(FORMAT_VERSION, 8);
    header.writeUInt32LE(this.entries, 12);
    header.writeBigUInt64LE(BigInt(this.end), 16);
    header.writeBigUInt64LE(BigInt(index.length), 24);
    createHash('sha256').update(index).digest().copy(header, 32);
    await this.handle.write(index, 0, index.length, this.end);
    await this.handle.write(header, 0, HEADER_BYTES, 0);
    await this.handle.sync();
    await this.handle.close();
    await rename(this.temporaryPath, this.path);
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.temporaryPath).catch(() => undefined);
  }
}

/**
 * An open store: `read(indices)` returns the usable images at those positions (0..count-1, in
 * scan order), each batch in one buffer of its own; nothing else is kept in memory but the index.
 */
export class ImageStore implements ImageSource {
  /** Entry number (scan order, all candidates) of each usable image. */
  readonly entries: Int32Array;
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly locations: readonly (RecordLocation | undefined)[],
    readonly contentKey: string,
    readonly failures: ReadonlyMap<number, string>,
  ) {
    this.entries = Int32Array.from(locations.flatMap((location, entry) => (location ? [entry] : [])));
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
      if (header.readUInt32LE(8) !== FORMAT_VERSION) throw new ImageStoreCorruptError(path, `format version ${header.readUInt32LE(8)}, expected ${FORMAT_VERSION}`);
      const entries = header.readUInt32LE(12);
      const indexOffset = Number(header.readBigUInt64LE(16));
      const indexLength = Number(header.readBigUInt64LE(24));
      if (indexOffset < HEADER_BYTES || indexLength < entries * INDEX_RECORD_BYTES || indexOffset + indexLength !== size) {
        throw new ImageStoreCorruptError(path, `truncated or extended: ${size} bytes, the header says ${indexOffset + indexLength}`);
      }
      const index = Buffer.alloc(indexLength);
      await handle.read(index, 0, indexLength, indexOffset);
      if (!createHash('sha256').update(index).digest().equals(header.subarray(32, 64))) throw new ImageStoreCorruptError(path, 'index checksum mismatch');
      const locations: (RecordLocation | undefined)[] = [];
      for (let entry = 0; entry < entries; entry++) {
        const at = entry * INDEX_RECORD_BYTES;
        const width = index.readUInt32LE(at + 8);
        const height = index.readUInt32LE(at + 12);
        const offset = Number(index.readBigUInt64LE(at));
        if (width === 0 && height === 0) {
          locations.push(undefined);
          continue;
        }
        if (width > MAX_SIDE || height > MAX_SIDE || offset < HEADER_BYTES || offset + width * height * 3 > indexOffset) {
          throw new ImageStoreCorruptError(path, `record ${entry} lies outside the records`);
        }
        locations.push({ offset, width, height, crc: index.readUInt32LE(at + 16) });
      }
      const trailer = JSON.parse(index.subarray(entries * INDEX_RECORD_BYTES).toString('utf8')) as { contentKey: string; failures: [number, string][] };
      return new ImageStore(path, handle, locations, trailer.contentKey, new Map(trailer.failures));
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** The images at usable positions `indices` (as many as given, in that order). */
  async read(indices: ArrayLike<number>): Promise<RgbImage[]> {
    const picked: RecordLocation[] = [];
    let total = 0;
    for (let i = 0; i < indices.length; i++) {
      const position = indices[i]!;
      const location = Number.isInteger(position) && position >= 0 && position < this.count ? this.locations[this.entries[position]!] : undefined;
      if (!location) throw new RangeError(`image store: no image at position ${position} (${this.count} images)`);
      picked.push(location);
      total += location.width * location.height * 3;
    }
    // One buffer per batch: the batch's images are views of it and go away with it.
    const batch = Buffer.allocUnsafe(total);
    let at = 0;
    const views = picked.map((location) => {
      const view = batch.subarray(at, at + location.width * location.height * 3);
      at += view.length;
      return view;
    });
    await Promise.all(picked.map(async (location, i) => {
      const view = views[i]!;
      const { bytesRead } = await this.handle.read(view, 0, view.length, location.offset);
      if (bytesRead !== view.length || crc32(view) !== location.crc) {
        await unlink(this.path).catch(() => undefined);
        throw new ImageStoreCorruptError(this.path, `record at byte ${location.offset} ${bytesRead !== view.length ? 'is short' : 'fails its CRC check'}`);
      }
    }));
    return picked.map((location, i) => {
      const view = views[i]!;
      return { width: location.width, height: location.height, data: new Uint8Array(view.buffer, view.byteOffset, view.length) };
    });
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
