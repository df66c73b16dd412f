/**
 * Which folders the UI may read images from: the folders the user chose (folder:choose,
 * folder:sample) and the folders of existing runs. Each gets an opaque random `folderId`; image
 * URLs carry that id and a relative path, never an absolute path. `resolveImage` is the only way
 * from such a URL to a file, for Electron's moco:// scheme and the server's /images route alike.
 */
import { randomBytes } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, resolve, sep } from 'node:path';
import { SUPPORTED_EXTENSIONS } from './images/scan.js';

/** A refused or failed image access; `code` is 'forbidden' or 'not-found'. */
export class ImageAccessError extends Error {
  constructor(readonly code: 'forbidden' | 'not-found', message: string) {
    super(message);
    this.name = 'ImageAccessError';
  }
}

export class FolderRegistry {
  private readonly byId = new Map<string, string>();
  private readonly byPath = new Map<string, string>();

  /** The id of `folder` (an absolute path; symlinks resolved here), registering it on first use. */
  async register(folder: string): Promise<{ folderId: string; path: string }> {
    const absolute = resolve(folder);
    const real = await realpath(absolute).catch(() => absolute);
    const known = this.byPath.get(real);
    if (known !== undefined) return { folderId: known, path: real };
    const folderId = randomBytes(12).toString('hex');
    this.byId.set(folderId, real);
    this.byPath.set(real, folderId);
    return { folderId, path: real };
  }

  /** The real path of a registered folder, or undefined. */
  folderOf(folderId: string): string | undefined {
    return this.byId.get(folderId);
  }

  /**
   * The absolute real path of `relativePath` inside the folder `folderId`, only when it is a
   * supported image file that resolves (symlinks followed) inside that folder. Refuses unknown
   * ids, absolute paths, `..`/`.` segments, backslashes, NUL, empty segments and anything whose
   * real path leaves the folder.
   */
  async resolveImage(folderId: string, relativePath: string): Promise<string> {
    const root = this.byId.get(folderId);
    if (root === undefined) throw new ImageAccessError('forbidden', 'Unknown folder id: choose the folder first');
    if (relativePath === '' || relativePath.includes('\0') || relativePath.includes('\\') || isAbsolute(relativePath) || /^[a-zA-Z]:/.test(relativePath)) {
      throw new ImageAccessError('forbidden', `Refused image path "${relativePath}": expected a relative path inside the chosen folder`);
    }
    const segments = relativePath.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new ImageAccessError('forbidden', `Refused image path "${relativePath}": path traversal is not allowed`);
    }
    if (!SUPPORTED_EXTENSIONS.has(extname(relativePath).toLowerCase())) {
      throw new ImageAccessError('forbidden', `Refused "${relativePath}": not a supported image type`);
    }
    let real: string;
    try {
      real = await realpath(join(root, ...segments));
    } catch {
      throw new ImageAccessError('not-found', `No image "${relativePath}" in the chosen folder`);
    }
    if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new ImageAccessError('forbidden', `Refused "${relativePath}": it resolves outside the chosen folder`);
    }
    // The link target must be an image too, not just the link's name.
    if (!SUPPORTED_EXTENSIONS.has(extname(real).toLowerCase())) throw new ImageAccessError('forbidden', `Refused "${relativePath}": not a supported image type`);
    const info = await stat(real).catch(() => null);
    if (!info?.isFile()) throw new ImageAccessError('not-found', `No image file "${relativePath}" in the chosen folder`);
    return real;
  }
}
