/**
 * Recursive scan of an image folder: which files are candidate images, which are skipped and why,
 * and the class of each image (its top-level subfolder). File system only: nothing is decoded here.
 *
 * Policy:
 * - Supported by extension, case-insensitive (see SUPPORTED_EXTENSIONS); any other file is reported
 *   as skipped with "unsupported type .ext". Content is checked later by the decoder.
 * - Hidden entries (name starting with ".") are skipped silently, as are cache directories: any
 *   directory in `excludeDirectories` or holding a CACHEDIR.TAG file (our image cache writes one),
 *   so a cache kept inside the folder is never scanned as images.
 * - Symlinks are followed inside the folder only: a link whose target lies outside it is skipped
 *   ("outside the folder: not followed"), file or directory (issue 13; the image server refuses
 *   such files, and a link must not pull outside files into a run). Only links are realpath'ed:
 *   a realpath per entry made deep trees quadratic. A directory whose real path is one of its own ancestors is reported as
 *   "symlink loop"; one already scanned through another path is reported as a duplicate, so no
 *   image is listed twice. The same holds for two links to one file.
 * - Problems below the root (EACCES, a dangling link, a FIFO) are reported, never thrown. Problems
 *   with the root itself (missing, not a directory, unreadable) throw: there is nothing to scan.
 * - Order is deterministic: names are compared by UTF-16 code units (no locale), path component by
 *   path component, so a folder's contents stay together and the listing is sorted by relative path.
 * - Classes: when EVERY image lives inside a subfolder, each gets the name of its top-level
 *   subfolder as className (cat/a.jpg and cat/more/b.jpg are both "cat"). When some images sit
 *   directly in the folder, nobody gets a class: a mix of loose and sorted images is not a
 *   labelled data set, and a partial labelling would make kNN accuracy meaningless.
 */
import { isUtf8 } from 'node:buffer';
import { readdir, realpath, stat } from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { startStatWorker, statEntries, type ScanSyscalls, type StatFact } from './entry-stats.js';

export const SUPPORTED_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif',
]);

/** The marker of a cache directory (https://bford.info/cachedir/); directories holding it are not scanned. */
export const CACHEDIR_TAG = 'CACHEDIR.TAG';

export interface ScannedImage {
  /** Absolute path (through any symlinks, as found in the folder). */
  readonly path: string;
  /** Relative to the scanned folder, always with "/" separators. */
  readonly relativePath: string;
  /** Name of the top-level subfolder holding the image; null when the folder has no classes. */
  readonly className: string | null;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface ScanSkip {
  readonly path: string;
  readonly relativePath: string;
  readonly reason: string;
}

/** A directory the scan read, with its modification time taken just before it was read. */
export interface ScannedDirectory {
  /** Absolute path as walked (through any symlinks). */
  readonly path: string;
  readonly mtimeMs: number;
  /** Also changes with permissions (an unreadable folder made readable) and link count. */
  readonly ctimeMs: number;
}

export interface ScanResult {
  readonly images: ScannedImage[];
  readonly skipped: ScanSkip[];
  /** Distinct class names, sorted. Empty unless every image lives in a subfolder. */
  readonly classes: string[];
  /**
   * Every directory read, in walk order. A name added, removed or renamed in one changes its
   * mtime: scan-manifest.ts revalidates a stored scan from these (issue 14, one scan per run).
   */
  readonly directories: ScannedDirectory[];
}

/** Running totals of a scan: entries that are not directories, and directories read. */
export interface ScanProgress {
  readonly files: number;
  readonly folders: number;
}

export interface ScanOptions {
  /** Directories never scanned and never reported (the image cache, for example). */
  readonly excludeDirectories?: readonly string[];
  /** Called after each directory with the number of entries seen so far. Must not throw. */
  readonly onProgress?: (entriesSeen: number) => void;
  /**
   * How the per-entry stat/realpath calls run (entry-stats.ts). 'worker' (default): synchronous
   * calls in a worker thread, off the event loop. 'parallel': async, 64 in flight. 'batched-sync':
   * synchronous on this thread, for processes with no UI on their event loop (the CLI preflight,
   * the trainer); not for the server, whose event loop a hung stat would freeze.
   */
  readonly syscalls?: ScanSyscalls;
  /** Called after each directory with the files and folders seen so far (not throttled). Must not throw. */
  readonly onCounts?: (progress: ScanProgress) => void;
}

/** Locale-independent ordering of names: plain UTF-16 code-unit order. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares "/"-separated relative paths component by component (the order the scan lists them in).
 * Without splitting: that is code-unit order with "/" ranked below every other character (a name
 * never holds "/"), since a component that ends first is then the smaller, as is a path with fewer
 * components. Splitting per comparison was most of the scan's garbage at 100k files (issue 14).
 */
export function compareRelativePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca === SLASH) return -1;
    if (cb === SLASH) return 1;
    return ca - cb;
  }
  return a.length - b.length;
}

const SLASH = 0x2f;

/** Sorts in place unless already in order: the walk lists in this order, so the check is usually all it costs. */
function sortByRelativePath(items: { readonly relativePath: string }[]): void {
  for (let i = 1; i < items.length; i++) {
    if (compareRelativePaths(items[i - 1]!.relativePath, items[i]!.relativePath) > 0) {
      items.sort((a, b) => compareRelativePaths(a.relativePath, b.relativePath));
      return;
    }
  }
}

/** A short, human reason for a file-system error, keeping its code for searchability. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `unreadable: permission denied (${code})`;
    case 'ENOENT':
      return 'not found (ENOENT): deleted while loading, or a dangling symlink';
    case 'ELOOP':
      return 'symlink loop (ELOOP)';
    case 'EISDIR':
      return 'is a directory (EISDIR)';
    default:
      return `unreadable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export async function scanImageFolder(folder: string, options: ScanOptions = {}): Promise<ScanResult> {
  const root = resolve(folder);
  let rootStats: Stats;
  try {
    rootStats = await stat(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Image folder not found: ${root}`, { cause: error });
    throw new Error(`Image folder cannot be read: ${root}: ${describeFsError(error)}`, { cause: error });
  }
  if (!rootStats.isDirectory()) throw new Error(`Image folder is not a directory: ${root}`);
  const rootReal = await realpath(root);

  const excluded = new Set<string>();
  for (const directory of options.excludeDirectories ?? []) {
    try {
      excluded.add(await realpath(directory));
    } catch {
      // A directory that does not exist yet cannot be inside the scan either.
    }
  }

  const images: ScannedImage[] = [];
  const skipped: ScanSkip[] = [];
  // Real path -> relative path where it was first met: tells loops and duplicate links apart.
  const seenDirectories = new Map<string, string>([[rootReal, '.']]);
  const seenFiles = new Map<string, string>();
  // The real paths of the directories being walked, root first: one set, grown and shrunk with the
  // walk (copying it per directory made deep trees quadratic: issue 13).
  const ancestors = new Set<string>([rootReal]);
  const insideRoot = (real: string): boolean => real === rootReal || real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
  const mode = options.syscalls ?? 'worker';
  const worker = mode === 'worker' ? startStatWorker() : null;
  const directories: ScannedDirectory[] = [];
  let entriesSeen = 0;
  let filesSeen = 0;

  const walk = async (directory: string, directoryReal: string, relativeDirectory: string): Promise<void> => {
    let entries: Dirent<Buffer>[];
    try {
      // The mtime before the listing: a change during readdir then shows as a changed mtime later.
      const { mtimeMs, ctimeMs } = await stat(directory);
      directories.push({ path: directory, mtimeMs, ctimeMs });
      // Buffers: a name that is not UTF-8 would otherwise come back mangled and "not found" (issue 13).
      entries = await readdir(directory, { withFileTypes: true, encoding: 'buffer' });
    } catch (error) {
      if (relativeDirectory === '') throw new Error(`Image folder cannot be read: ${root}: ${describeFsError(error)}`, { cause: error });
      skipped.push({ path: directory, relativePath: relativeDirectory, reason: `directory ${describeFsError(error)}` });
      return;
    }
    const named = entries.map((entry) => ({ entry, name: entry.name.toString('utf8') }));
    if (relativeDirectory !== '' && named.some((n) => n.name === CACHEDIR_TAG)) return;
    named.sort((a, b) => compareNames(a.name, b.name));
    const visible = named.filter((n) => !n.name.startsWith('.'));
    // The system calls of one directory, a few at a time; the decisions below stay in name order.
    const inDirectory = directory.endsWith(sep) ? directory : directory + sep;
    const inDirectoryReal = directoryReal.endsWith(sep) ? directoryReal : directoryReal + sep;
    type Fact = { name: string; path?: string; problem?: string; directory?: boolean; real?: string; file?: boolean; size?: number; mtimeMs?: number; link?: boolean };
    const facts: Fact[] = [];
    const toStat: { at: number; path: string; link: boolean }[] = [];
    for (const { entry, name } of visible) {
      if (!isUtf8(entry.name)) {
        facts.push({ name, problem: `the name is not valid UTF-8 (bytes ${entry.name.toString('hex')}); rename the file to use it` });
        continue;
      }
      // Plain concatenation, not join(): both are normalised already and a name has no separator (join was a measurable share at 100k).
      const path = inDirectory + name;
      if (entry.isDirectory()) facts.push({ name, path, directory: true, real: inDirectoryReal + name });
      else if (!entry.isSymbolicLink() && !entry.isFile()) facts.push({ name, path, problem: 'not a regular file' });
      else {
        toStat.push({ at: facts.length, path, link: entry.isSymbolicLink() });
        facts.push({ name, path });
      }
    }
    // stat follows symlinks; only links are realpath'ed. Only the figures are kept: holding 100k
    // Stats objects until the directory was done was much of the GC time (issue 14).
    const found: StatFact[] = await statEntries(toStat, mode, worker);
    toStat.forEach(({ at, link }, i) => {
      const fact = facts[at]!;
      const stats = found[i]!;
      if (stats.error !== undefined) fact.problem = describeFsError(stats.error);
      else Object.assign(fact, { directory: stats.directory, real: stats.real ?? inDirectoryReal + fact.name, file: stats.file, size: stats.size, mtimeMs: stats.mtimeMs, link });
    });
    entriesSeen += entries.length;
    filesSeen += entries.reduce((n, entry) => n + (entry.isDirectory() ? 0 : 1), 0);
    options.onProgress?.(entriesSeen);
    options.onCounts?.({ files: filesSeen, folders: directories.length });
    for (const fact of facts) {
      const { name } = fact;
      const path = fact.path ?? join(directory, name);
      const relativePath = relativeDirectory === '' ? name : `${relativeDirectory}/${name}`;
      const skip = (reason: string): void => {
        skipped.push({ path, relativePath, reason });
      };
      if (fact.problem !== undefined) {
        skip(fact.problem);
        continue;
      }
      const real = fact.real!; // set on every fact without a problem
      if (fact.link === true && !insideRoot(real)) {
        // Not followed: the image server refuses it, so the UI could never show what was trained on,
        // and a link must not pull files from elsewhere into a run (README: Symlinks).
        skip(`symlink to ${real}, outside the folder: not followed`);
        continue;
      }
      if (fact.directory) {
        if (excluded.has(real)) continue;
        if (ancestors.has(real)) {
          skip(`symlink loop: points back to ${seenDirectories.get(real) ?? real}`);
          continue;
        }
        const first = seenDirectories.get(real);
        if (first !== undefined) {
          skip(`duplicate directory: same as ${first} (symlink)`);
          continue;
        }
        seenDirectories.set(real, relativePath);
        ancestors.add(real);
        await walk(path, real, relativePath);
        ancestors.delete(real);
        continue;
      }
      if (fact.file !== true) {
        // FIFOs, sockets and devices: reading one could block forever or never end.
        skip('not a regular file');
        continue;
      }
      const extension = extname(name).toLowerCase();
      if (!SUPPORTED_EXTENSIONS.has(extension)) {
        skip(extension === '' ? 'unsupported type (no extension)' : `unsupported type ${extension}`);
        continue;
      }
      const first = seenFiles.get(real);
      if (first !== undefined) {
        skip(`duplicate file: same as ${first} (symlink)`);
        continue;
      }
      seenFiles.set(real, relativePath);
      const slash = relativePath.indexOf('/');
      images.push({
        path,
        relativePath,
        className: slash === -1 ? null : relativePath.slice(0, slash),
        size: fact.size!,
        mtimeMs: fact.mtimeMs!,
      });
    }
  };
  try {
    await walk(root, rootReal, '');
  } finally {
    await worker?.close();
  }

  // The walk already visits in this order; sorting again makes the contract independent of it.
  sortByRelativePath(images);
  sortByRelativePath(skipped);
  const labelled = images.length > 0 && images.every((image) => image.className !== null);
  const classes = labelled ? [...new Set(images.map((image) => image.className!))].sort(compareNames) : [];
  // Unlabelled: only the images that sit in a subfolder need a copy without their class.
  return { images: labelled ? images : images.map((image) => (image.className === null ? image : { ...image, className: null })), skipped, classes, directories };
}
