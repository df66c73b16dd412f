/**
 * The folder check's second phase (issue 12 item 1): the first bytes of every candidate image, so
 * the counts, classes and suggestions shown before Start are true. Three text files named .jpg
 * used to count as three images until the trainer failed on them.
 *
 * The rules and their wording are decode's (decode.ts: a regular file within the size limit, not
 * empty, with an image signature, and for PNG, GIF, WebP and JPEG a size decode accepts, read off
 * the header by header-dimensions.ts): what this refuses, the trainer would refuse too. A file that
 * passes can still fail to decode (truncated, corrupt); the trainer reports those, in skipped.json.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { FileReadError, formatBytes, MAX_IMAGE_FILE_BYTES, openRegularFile, readHead } from '../safe-read.js';
import { imageSizeProblem, UNRECOGNISED_IMAGE } from './decode.js';
import { DIMENSION_HEAD_BYTES, headDimensions, type HeadAnswer } from './header-dimensions.js';
import { describeFsError } from './scan.js';
import { hasImageSignature } from './signatures.js';

/** Header reads in flight at once: each is an open, a 1 KiB read (more for a JPEG with long APPn segments) and a close. */
export const HEADER_CHECK_CONCURRENCY = 64;
/** A header read is a few bytes; a file that cannot give them in this time is not usable now. */
const HEADER_TIMEOUT_MS = 10_000;

/** The size problem of a header's answer (null: fine, or the size is not in the header). */
function sizeProblemOf(answer: HeadAnswer): string | null {
  return 'dimensions' in answer ? imageSizeProblem(answer.dimensions.width, answer.dimensions.height) : null;
}

/** Why the file at `path` cannot be an image, or null when its head is that of a supported image. */
export async function imageHeadProblem(path: string): Promise<string | null> {
  try {
    const file = await openRegularFile(path, MAX_IMAGE_FILE_BYTES);
    try {
      if (file.stats.size === 0) return 'empty file (0 bytes)';
      let head = await readHead(file, DIMENSION_HEAD_BYTES, path, HEADER_TIMEOUT_MS);
      if (!hasImageSignature(head)) return UNRECOGNISED_IMAGE;
      let answer = headDimensions(head, file.stats.size);
      // A JPEG's frame header after long APPn segments: a longer prefix (stops when the file gives no more).
      while ('needBytes' in answer) {
        const longer = await readHead(file, answer.needBytes, path, HEADER_TIMEOUT_MS);
        if (longer.length <= head.length) return null;
        head = longer;
        answer = headDimensions(head, file.stats.size);
      }
      return sizeProblemOf(answer);
    } finally {
      await file.handle.close().catch(() => undefined);
    }
  } catch (error) {
    return error instanceof FileReadError ? error.reason : describeFsError(error);
  }
}

/**
 * imageHeadProblem with synchronous calls (open with O_NONBLOCK, fstat, one read of the first 1 KiB,
 * close), for the 'batched-sync' mode of processes with no UI on their event loop (the CLI):
 * here 20k async open/read/close took 4.7-8.3 s at load 20 on two cores, mostly thread-pool
 * hand-offs. The same refusals and wording as the async path.
 */
export function imageHeadProblemSync(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | ((constants as Partial<typeof constants>).O_NONBLOCK ?? 0));
  } catch (error) {
    return describeFsError(error);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) return 'is a directory (EISDIR)';
    if (!stats.isFile()) return 'not a regular file';
    if (stats.size > MAX_IMAGE_FILE_BYTES) return `too large: the file is ${formatBytes(stats.size)}, the limit is ${formatBytes(MAX_IMAGE_FILE_BYTES)}`;
    if (stats.size === 0) return 'empty file (0 bytes)';
    const readPrefix = (bytes: number): Buffer => {
      // Unzeroed: only the bytes read are looked at.
      const buffer = Buffer.allocUnsafe(Math.min(bytes, stats.size));
      return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
    };
    let head = readPrefix(DIMENSION_HEAD_BYTES);
    if (!hasImageSignature(head)) return UNRECOGNISED_IMAGE;
    let answer = headDimensions(head, stats.size);
    while ('needBytes' in answer) {
      const longer = readPrefix(answer.needBytes);
      if (longer.length <= head.length) return null;
      head = longer;
      answer = headDimensions(head, stats.size);
    }
    return sizeProblemOf(answer);
  } catch (error) {
    return describeFsError(error);
  } finally {
    closeSync(fd);
  }
}

/** Sync header checks between two yields to the event loop. */
const SYNC_BATCH = 256;

/**
 * imageHeadProblem for each path, HEADER_CHECK_CONCURRENCY at a time; results in path order.
 * `onChecked(count)` after each file. Never throws for a file: a problem is a result. `mode` as
 * scanImageFolder's `syscalls` (the server keeps 'parallel').
 */
export async function imageHeadProblems(paths: readonly string[], onChecked?: (checked: number) => void, mode: 'parallel' | 'batched-sync' = 'parallel'): Promise<(string | null)[]> {
  const results = new Array<string | null>(paths.length).fill(null);
  if (mode === 'batched-sync') {
    for (let i = 0; i < paths.length; i++) {
      if (i > 0 && i % SYNC_BATCH === 0) await new Promise<void>((resolve) => { setImmediate(resolve); });
      results[i] = imageHeadProblemSync(paths[i]!);
      onChecked?.(i + 1);
    }
    return results;
  }
  let next = 0;
  let checked = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const index = next++;
      results[index] = await imageHeadProblem(paths[index]!);
      checked++;
      onChecked?.(checked);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEADER_CHECK_CONCURRENCY, paths.length) }, worker));
  return results;
}
