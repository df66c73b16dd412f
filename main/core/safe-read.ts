/**
 * Reading a file the user (or anyone who can write to the user's folder) controls, without
 * hanging or running out of memory (issue 13, items 3 and 4):
 * - opened with O_NONBLOCK, so a FIFO swapped in after the scan cannot block the open; then the
 *   open descriptor is fstat'ed (not the path, which can change between a stat and a read) and
 *   anything but a regular file is refused;
 * - a size limit, checked on the descriptor, before a byte is read;
 * - a time limit on the whole read (a hung network mount must not stop a load for ever).
 * Callers read the head first where it can decide (image signatures), and the server streams.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Largest image file read for decoding: 512 MiB, above any 100-megapixel image a camera or scanner writes compressed. */
export const MAX_IMAGE_FILE_BYTES = 512 * 1024 * 1024;
/** A read that takes longer is abandoned (a local disk reads 512 MiB in well under this). */
export const READ_TIMEOUT_MS = 60_000;

/** A file refused before or while reading; `reason` is for the user ("not a regular file (a FIFO)"). */
export class FileReadError extends Error {
  constructor(readonly path: string, readonly reason: string, readonly code: string) {
    super(`${path}: ${reason}`);
    this.name = 'FileReadError';
  }
}

function kindOf(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a plain file';
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

export interface OpenedFile {
  readonly handle: FileHandle;
  readonly stats: Stats;
}

/** O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever. (0 where it does not exist.) */
const NONBLOCKING_READ = constants.O_RDONLY | ((constants as Partial<typeof constants>).O_NONBLOCK ?? 0);

/** Refuses what the fstat of an opened file shows is not a regular file within `maxBytes` (when given). */
function assertRegularFile(path: string, stats: Stats, maxBytes?: number): void {
  if (stats.isDirectory()) throw new FileReadError(path, 'is a directory (EISDIR)', 'not-regular');
  if (!stats.isFile()) throw new FileReadError(path, `not a regular file: ${kindOf(stats)}`, 'not-regular');
  if (maxBytes !== undefined && stats.size > maxBytes) {
    throw new FileReadError(path, `too large: the file is ${formatBytes(stats.size)}, the limit is ${formatBytes(maxBytes)}`, 'too-large');
  }
}

/** Opens `path` without blocking and returns it only if it is a regular file (within `maxBytes`, when given). */
export async function openRegularFile(path: string, maxBytes?: number): Promise<OpenedFile> {
  const handle = await open(path, NONBLOCKING_READ);
  try {
    const stats = await handle.stat();
    assertRegularFile(path, stats, maxBytes);
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

async function withTimeout<T>(path: string, timeoutMs: number, work: Promise<T>, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new FileReadError(path, `read timed out after ${Math.round(timeoutMs / 1000)} s (a hung network drive?)`, 'timeout'));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads up to `bytes` from the start of an opened file. */
export async function readHead(file: OpenedFile, bytes: number, path: string, timeoutMs = READ_TIMEOUT_MS): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.min(bytes, file.stats.size));
  const { bytesRead } = await withTimeout(path, timeoutMs, file.handle.read(buffer, 0, buffer.length, 0), () => undefined);
  return buffer.subarray(0, bytesRead);
}

/** The whole of an opened regular file (its size was checked at open), within the time limit. */
export async function readOpenedFile(file: OpenedFile, path: string, timeoutMs = READ_TIMEOUT_MS): Promise<Buffer> {
  const size = file.stats.size;
  const buffer = Buffer.alloc(size);
  const work = (async () => {
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await file.handle.read(buffer, offset, Math.min(size - offset, 64 * 1024 * 1024), offset);
      if (bytesRead === 0) break; // shrank while reading: the decoder reports the truncation
      offset += bytesRead;
    }
    return buffer.subarray(0, offset);
  })();
  return withTimeout(path, timeoutMs, work, () => undefined);
}

/**
 * openRegularFile and a whole read, synchronously: for processes with no UI on their event loop
 * (the trainer's image load), where the four thread-pool hand-offs of open, fstat, read and close
 * cost ~0.1 ms of CPU a small file against ~0.015 ms for the same syscalls made in line (issue 14).
 * The same refusals and wording; `check(head, size)` sees the first `headBytes` (all of a file of
 * at most `wholeBytes`) before the rest is read, and throws to refuse. No time limit: a hung mount
 * blocks the caller, as the trainer's 'batched-sync' scan of the same files would.
 */
export function readRegularFileSync(path: string, maxBytes: number, headBytes: number, wholeBytes: number, check: (head: Buffer, size: number) => void): Buffer {
  const fd = openSync(path, NONBLOCKING_READ);
  try {
    const stats = fstatSync(fd);
    assertRegularFile(path, stats, maxBytes);
    const size = stats.size;
    const buffer = Buffer.allocUnsafe(size);
    const readFrom = (start: number, end: number): number => {
      let offset = start;
      while (offset < end) {
        const bytesRead = readSync(fd, buffer, offset, end - offset, offset);
        if (bytesRead === 0) break; // shrank while reading: the decoder reports the truncation
        offset += bytesRead;
      }
      return offset;
    };
    if (size <= wholeBytes) {
      const read = readFrom(0, size);
      check(buffer.subarray(0, Math.min(read, headBytes)), size);
      return buffer.subarray(0, read);
    }
    const head = readFrom(0, headBytes);
    check(buffer.subarray(0, head), size);
    return buffer.subarray(0, head < headBytes ? head : readFrom(headBytes, size));
  } finally {
    closeSync(fd);
  }
}
