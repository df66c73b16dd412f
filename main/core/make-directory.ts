/**
 * Creating a directory the user named (`--run-dir`, `sample <dir>`), one level at a time.
 * Node's `mkdir(..., { recursive: true })` spins at full CPU for ever on some paths: under /proc,
 * mkdir answers ENOENT for a parent that exists, and the recursive walk retries it (issue 13).
 * Here each missing level is made once, and every failure becomes a sentence naming the path,
 * the reason and what to do.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export class DirectoryError extends Error {
  constructor(readonly path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DirectoryError';
  }
}

function why(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOTDIR': return 'a part of the path is a file, not a folder (ENOTDIR)';
    case 'EEXIST': return 'a file of that name exists (EEXIST)';
    case 'EACCES':
    case 'EPERM': return `permission denied (${code})`;
    case 'EROFS': return 'the file system is read-only (EROFS)';
    case 'ENOSPC': return 'the disk is full (ENOSPC)';
    case 'ENOENT': return 'this file system does not allow folders to be made there (ENOENT)';
    case 'ENAMETOOLONG': return 'the path is too long (ENAMETOOLONG)';
    default: return error instanceof Error ? error.message : String(error);
  }
}

/** Makes `path` and its missing parents; `purpose` ("the run directory") starts the error message. */
export async function makeDirectory(path: string, purpose: string): Promise<void> {
  const target = resolve(path);
  const missing: string[] = [];
  let existing = target;
  for (;;) {
    const info = await stat(existing).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (!(info instanceof Error)) {
      if (!info.isDirectory()) throw new DirectoryError(target, `Cannot make ${purpose} ${target}: ${existing} is a file, not a folder (ENOTDIR). Choose another path.`);
      break;
    }
    if (info.code !== 'ENOENT') throw new DirectoryError(target, `Cannot make ${purpose} ${target}: ${why(info)}. Choose another path.`, { cause: info });
    missing.push(existing);
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  for (const directory of missing.reverse()) {
    try {
      await mkdir(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(directory).then((s) => s.isDirectory(), () => false))) continue; // made meanwhile
      throw new DirectoryError(target, `Cannot make ${purpose} ${target}: ${why(error)} at ${directory}. Choose another path.`, { cause: error });
    }
  }
}
