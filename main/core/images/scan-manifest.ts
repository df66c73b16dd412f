/**
 * One scan per run (issues 13 item 8, 14): the folder check (server `folder:choose`, CLI preflight)
 * scans the folder and stores the result as a manifest in the image cache directory, keyed by the
 * folder's path and real path and the excluded directories. The trainer's load, embed and knn jobs
 * then reuse it after a cheap revalidation instead of walking the folder again.
 *
 * Revalidation: one stat per directory the scan read (64 in flight), never one per file. A name
 * added, removed or renamed in a directory changes its mtime, so a new, deleted or replaced file
 * (editors and copy tools save by rename) always forces a fresh scan; so does a changed ctime
 * (permissions). Timestamps are coarse on some file systems (1 s on ext3 and HFS+, 2 s on FAT):
 * a directory changed within RACY_MS before the scan started could change again in the same tick
 * unseen, so such a manifest is never reused (git's "racy" rule).
 *
 * What it does not see: a file rewritten in place (same name) after the check. Its size and mtime
 * in this run are the scanned ones; its decode still validates the content (a file that became
 * junk is skipped with its reason, safe-read refuses what is no longer a regular file), and the
 * next scan picks up the change. Any doubt (a missing, corrupt or foreign manifest, a directory
 * that cannot be stat'ed) means a fresh scan, never an error.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { ScanSyscalls } from './entry-stats.js';
import { scanImageFolder, type ScanProgress, type ScanResult, type ScannedDirectory } from './scan.js';

const MANIFEST_VERSION = 1;
const REVALIDATE_CONCURRENCY = 64;
/** Directory changes this close to the scan's start may share its timestamp tick (see above). */
const RACY_MS = 2000;
/** At most 10 progress events a second (issue 13 item 8), plus the final one. */
const PROGRESS_INTERVAL_MS = 100;

export interface ScanOnceProgress extends ScanProgress {
  /** True on the last call only. */
  readonly done: boolean;
  /** True when the stored scan of the folder check was reused (then this is the only call). */
  readonly reused: boolean;
}

export interface ScanOnceOptions {
  /** As scanImageFolder's: directories never scanned (the image cache). Part of the manifest key. */
  readonly excludeDirectories?: readonly string[];
  /** Where manifests live (the image cache directory: CACHEDIR-tagged, never scanned itself). */
  readonly manifestDirectory: string;
  /** As scanImageFolder's (default 'worker'). */
  readonly syscalls?: ScanSyscalls;
  /** Files and folders seen, throttled to PROGRESS_INTERVAL_MS, with a final call (done: true). Must not throw. */
  readonly onProgress?: (progress: ScanOnceProgress) => void;
}

export interface ScanOnceResult extends ScanResult {
  readonly reused: boolean;
  readonly seconds: number;
}

interface Manifest {
  readonly version: number;
  readonly folder: string;
  /** Date.now() just before the walk began. */
  readonly startedMs: number;
  /** Totals of the walk (hidden entries included), for the progress of a reuse. */
  readonly counts: ScanProgress;
  readonly result: ScanResult;
}

/** Where the manifest of `folder` (with these exclusions) is kept. */
export async function scanManifestPath(folder: string, options: Pick<ScanOnceOptions, 'excludeDirectories' | 'manifestDirectory'>): Promise<string> {
  const root = resolve(folder);
  // resolve(), not realpath(): the cache directory may not exist yet at the check and exist at the load.
  const excluded = (options.excludeDirectories ?? []).map((d) => resolve(d));
  const material = JSON.stringify([MANIFEST_VERSION, root, await realpath(root).catch(() => root), excluded.sort()]);
  return join(resolve(options.manifestDirectory), 'scans', `${createHash('sha256').update(material).digest('hex').slice(0, 32)}.json`);
}

/** `fn` over `items`, at most `limit` at once; true when every call returned true. Stops early on false. */
async function everyLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<boolean>): Promise<boolean> {
  let next = 0;
  let ok = true;
  const worker = async (): Promise<void> => {
    while (ok && next < items.length) {
      if (!(await fn(items[next++]!))) ok = false;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return ok;
}

function racy(directories: readonly ScannedDirectory[], startedMs: number): boolean {
  return directories.some((d) => d.mtimeMs > startedMs - RACY_MS);
}

async function readManifest(path: string, folder: string): Promise<Manifest | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
  // Our own file, but it may be truncated or from another version: check the shape, not every item.
  const m = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<Manifest>;
  const r = m.result;
  const shapeOk = m.version === MANIFEST_VERSION && m.folder === folder && typeof m.startedMs === 'number'
    && typeof m.counts?.files === 'number' && typeof m.counts.folders === 'number'
    && r !== undefined && Array.isArray(r.images) && Array.isArray(r.skipped) && Array.isArray(r.classes) && Array.isArray(r.directories) && r.directories.length > 0;
  return shapeOk ? (m as Manifest) : null;
}

/** True when no directory the scan read has changed since (and none changed just before it). */
async function stillValid(manifest: Manifest): Promise<boolean> {
  const { directories } = manifest.result;
  if (racy(directories, manifest.startedMs)) return false;
  return everyLimited(directories, REVALIDATE_CONCURRENCY, async (d) => {
    const now = await stat(d.path).catch(() => null);
    return now !== null && now.isDirectory() && now.mtimeMs === d.mtimeMs && now.ctimeMs === d.ctimeMs;
  });
}

/**
 * scanImageFolder, once per run: the stored scan of `folder` when it is still valid, else a fresh
 * scan (stored for the next job when its directories are old enough to be trusted). Errors are
 * scanImageFolder's (a missing folder, not a directory); a manifest that cannot be written only
 * costs the next job a scan.
 */
export async function scanImageFolderOnce(folder: string, options: ScanOnceOptions): Promise<ScanOnceResult> {
  const started = performance.now();
  const root = resolve(folder);
  const manifestPath = await scanManifestPath(root, options);
  const stored = await readManifest(manifestPath, root);
  if (stored !== null && (await stillValid(stored))) {
    const { result, counts } = stored;
    options.onProgress?.({ ...counts, done: true, reused: true });
    return { ...result, reused: true, seconds: (performance.now() - started) / 1000 };
  }

  let lastEmitted = 0;
  let counts: ScanProgress = { files: 0, folders: 0 };
  const startedMs = Date.now();
  const result = await scanImageFolder(root, {
    ...(options.excludeDirectories ? { excludeDirectories: options.excludeDirectories } : {}),
    ...(options.syscalls ? { syscalls: options.syscalls } : {}),
    onCounts: (latest) => {
      counts = latest;
      const now = performance.now();
      if (now - lastEmitted < PROGRESS_INTERVAL_MS) return;
      lastEmitted = now;
      options.onProgress?.({ ...counts, done: false, reused: false });
    },
  });
  options.onProgress?.({ ...counts, done: true, reused: false });
  if (!racy(result.directories, startedMs)) {
    const manifest: Manifest = { version: MANIFEST_VERSION, folder: root, startedMs, counts, result };
    await mkdir(join(resolve(options.manifestDirectory), 'scans'), { recursive: true })
      .then(() => writeFileAtomic(manifestPath, JSON.stringify(manifest)))
      .catch(() => undefined);
  }
  return { ...result, reused: false, seconds: (performance.now() - started) / 1000 };
}
