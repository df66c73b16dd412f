/**
 * Atomic file writes: a reader (or a crash) sees either the old file or the new one, never a
 * half-written mix. Write to a temporary file beside the target, fsync it, rename over the
 * target, then fsync the directory so the rename itself survives a power loss.
 * `writeChunksAtomic` streams a sequence of chunks: a CSV of a million embeddings is longer than
 * the longest string V8 can hold, and a .npy would otherwise need a second copy of the matrix.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const MAX_WRITE_BYTES = 64 * 1024 * 1024;

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeChunksAtomic(path, [data]);
}

export async function writeChunksAtomic(path: string, chunks: Iterable<Uint8Array | string>): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w');
  try {
    for (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      // One write() may be partial (and Linux caps one call near 2 GiB), so loop over bounded slices.
      let offset = 0;
      while (offset < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, offset, Math.min(bytes.length - offset, MAX_WRITE_BYTES));
        offset += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => undefined); // already closed when rename failed
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  }
}
