/**
 * The folder check's second phase (issue 12 item 1): the first bytes of every candidate image, so
 * the counts, classes and suggestions shown before Start are true. Three text files named .jpg
 * used to count as three images until the trainer failed on them.
 *
 * The rules and their wording are decode's (decode.ts: a regular file within the size limit, not
 * empty, with an image signature): what this refuses, the trainer would refuse too. A file that
 * passes can still fail to decode (truncated, corrupt); the trainer reports those, in skipped.json.
 */
import { FileReadError, MAX_IMAGE_FILE_BYTES, openRegularFile, readHead } from '../safe-read.js';
import { describeFsError } from './scan.js';
import { hasImageSignature, SIGNATURE_BYTES } from './signatures.js';

/** Header reads in flight at once: each is an open, a 16-byte read and a close. */
export const HEADER_CHECK_CONCURRENCY = 64;
/** A header read is a few bytes; a file that cannot give them in this time is not usable now. */
const HEADER_TIMEOUT_MS = 10_000;

/** Why the file at `path` cannot be an image, or null when its head is that of a supported image. */
export async function imageHeadProblem(path: string): Promise<string | null> {
  try {
    const file = await openRegularFile(path, MAX_IMAGE_FILE_BYTES);
    try {
      if (file.stats.size === 0) return 'empty file (0 bytes)';
      if (!hasImageSignature(await readHead(file, SIGNATURE_BYTES, path, HEADER_TIMEOUT_MS))) {
        return 'not a supported image (unrecognised contents): its first bytes are not those of a JPEG, PNG, GIF, WebP, TIFF or AVIF file';
      }
      return null;
    } finally {
      await file.handle.close().catch(() => undefined);
    }
  } catch (error) {
    return error instanceof FileReadError ? error.reason : describeFsError(error);
  }
}

/**
 * imageHeadProblem for each path, HEADER_CHECK_CONCURRENCY at a time; results in path order.
 * `onChecked(count)` after each file. Never throws for a file: a problem is a result.
 */
export async function imageHeadProblems(paths: readonly string[], onChecked?: (checked: number) => void): Promise<(string | null)[]> {
  const results = new Array<string | null>(paths.length).fill(null);
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
