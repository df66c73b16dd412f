/**
 * The little of the ZIP format that PyTorch checkpoints need (issue 11), read and written here
 * rather than through a dependency: torch.save (>= 1.6) writes an uncompressed ("stored") ZIP
 * whose entries are `<archive>/data.pkl`, `<archive>/data/<key>` (raw storages), `<archive>/version`
 * and `<archive>/byteorder`, each data entry padded to a 64-byte boundary through the local
 * header's extra field. Reading goes through the central directory (ZIP64 included, for
 * checkpoints over 4 GiB) and checks every entry's CRC-32, so a truncated or damaged file is
 * refused with the entry that broke. Deflated entries (a re-zipped checkpoint) are inflated.
 */
import { crc32, inflateRawSync } from 'node:zlib';

export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipFormatError';
  }
}

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc: number;
  readonly localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function u64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('a ZIP64 size or offset is beyond 2^53');
  return Number(value);
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const eocd = this.findEndOfCentralDirectory();
    let count = this.view.getUint16(eocd + 10, true);
    let directoryOffset = this.view.getUint32(eocd + 16, true);
    if (count === 0xffff || directoryOffset === 0xffffffff) {
      const locator = eocd - 20;
      if (locator < 0 || this.view.getUint32(locator, true) !== ZIP64_LOCATOR_SIGNATURE) throw new ZipFormatError('ZIP64 end-of-directory locator missing');
      const zip64 = u64(this.view, locator + 8);
      if (zip64 + 56 > bytes.length || this.view.getUint32(zip64, true) !== ZIP64_EOCD_SIGNATURE) throw new ZipFormatError('ZIP64 end-of-directory record missing');
      count = u64(this.view, zip64 + 32);
      directoryOffset = u64(this.view, zip64 + 48);
    }
    let p = directoryOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > bytes.length || this.view.getUint32(p, true) !== CENTRAL_SIGNATURE) throw new ZipFormatError(`central directory entry ${i + 1} of ${count} is damaged or missing (file truncated?)`);
      const method = this.view.getUint16(p + 10, true);
      const crc = this.view.getUint32(p + 16, true);
      let compressedSize = this.view.getUint32(p + 20, true);
      let size = this.view.getUint32(p + 24, true);
      const nameLength = this.view.getUint16(p + 28, true);
      const extraLength = this.view.getUint16(p + 30, true);
      const commentLength = this.view.getUint16(p + 32, true);
      let localHeaderOffset = this.view.getUint32(p + 42, true);
      const name = Buffer.from(bytes.subarray(p + 46, p + 46 + nameLength)).toString('utf8');
      // ZIP64 extended information: only the fields that overflowed, in this order.
      let e = p + 46 + nameLength;
      const extraEnd = e + extraLength;
      while (e + 4 <= extraEnd) {
        const id = this.view.getUint16(e, true);
        const length = this.view.getUint16(e + 2, true);
        if (id === 0x0001) {
          let f = e + 4;
          if (size === 0xffffffff) { size = u64(this.view, f); f += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = u64(this.view, f); f += 8; }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(this.view, f);
        }
        e += 4 + length;
      }
      this.entries.set(name, { name, method, compressedSize, size, crc, localHeaderOffset });
      p = extraEnd + commentLength;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** An entry's bytes, CRC-checked. Stored entries are views into the file, not copies. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new ZipFormatError(`no entry "${name}"`);
    const p = entry.localHeaderOffset;
    if (p + 30 > this.bytes.length || this.view.getUint32(p, true) !== LOCAL_SIGNATURE) throw new ZipFormatError(`entry "${name}": local header damaged`);
    const start = p + 30 + this.view.getUint16(p + 26, true) + this.view.getUint16(p + 28, true);
    const end = start + entry.compressedSize;
    if (end > this.bytes.length) throw new ZipFormatError(`entry "${name}" ends past the end of the file (truncated)`);
    let data = this.bytes.subarray(start, end);
    if (entry.method === 8) data = inflateRawSync(data);
    else if (entry.method !== 0) throw new ZipFormatError(`entry "${name}": compression method ${entry.method} is not supported (only stored and deflate)`);
    if (data.length !== entry.size) throw new ZipFormatError(`entry "${name}": ${data.length} bytes, the directory says ${entry.size}`);
    if (crc32(data) >>> 0 !== entry.crc) throw new ZipFormatError(`entry "${name}": CRC-32 mismatch (the file is damaged)`);
    return data;
  }

  private findEndOfCentralDirectory(): number {
    // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    const lowest = Math.max(0, this.bytes.length - 22 - 0xffff);
    for (let p = this.bytes.length - 22; p >= lowest; p--) {
      if (this.view.getUint32(p, true) === EOCD_SIGNATURE) return p;
    }
    throw new ZipFormatError('no ZIP end-of-central-directory record (the file is truncated or not a ZIP)');
  }
}

/** Where each entry's data starts is rounded up to this, as PyTorch does (mmap-friendly). */
const ALIGNMENT = 64;

/**
 * A stored (uncompressed) ZIP of the given entries, in order, data 64-byte aligned. Sizes stay
 * below 4 GiB (no ZIP64 writing): an exported encoder is at most a few hundred MB.
 */
export function writeStoredZip(entries: readonly { name: string; data: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const headerEnd = offset + 30 + nameBytes.length;
    // Extra field: id 0x5054 ('PT'-like, ignored by readers) + length, then padding.
    const padding = (ALIGNMENT - ((headerEnd + 4) % ALIGNMENT)) % ALIGNMENT;
    const extra = Buffer.alloc(4 + padding);
    extra.writeUInt16LE(0x5054, 0);
    extra.writeUInt16LE(padding, 2);
    const crc = crc32(data) >>> 0;
    if (offset + data.length > 0xffffffff) throw new ZipFormatError('the export would exceed 4 GiB (ZIP64 writing is not supported)');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_SIGNATURE, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date: fixed, so exports are reproducible
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(CENTRAL_SIGNATURE, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0800, 8);
    entry.writeUInt16LE(0, 10);
    entry.writeUInt32LE(0, 12);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    parts.push(local, nameBytes, extra, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + extra.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD_SIGNATURE, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}
