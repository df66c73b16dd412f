/**
 * The folder check shown before Start (server `folder:choose`, CLI preflight): a scan of names and
 * stats (stored for the run's trainer: scan-manifest.ts), then the first bytes of each candidate
 * image (issue 12 item 1), each phase streaming its progress. What comes out is what the trainer
 * can use: the counts, classes and suggestions made from it are true before a run exists.
 */
import { imageHeadProblems } from './images/header-check.js';
import { compareNames, compareRelativePaths, type ScanSkip, type ScannedImage } from './images/scan.js';
import type { ScanSyscalls } from './images/entry-stats.js';
import { scanImageFolderOnce } from './images/scan-manifest.js';

export interface FolderCheckProgress {
  readonly phase: 'listing' | 'headers';
  readonly files: number;
  readonly folders: number;
  /** Headers checked so far, of `total` candidate images (0 of 0 while listing). */
  readonly checked: number;
  readonly total: number;
  /** True on the last call of each phase. */
  readonly done: boolean;
}

export interface FolderCheck {
  /** Images whose first bytes are those of a supported image, in scan order. */
  readonly images: ScannedImage[];
  /** The scan's skips and the header check's, sorted by relative path. */
  readonly skipped: ScanSkip[];
  /** Classes with at least one usable image, sorted; empty when the folder has no class subfolders. */
  readonly classes: string[];
  /** Files that looked like images by name (before the header check). */
  readonly candidates: number;
}

/** At most 10 header-progress events a second (issue 13 item 8), plus the final one. */
const PROGRESS_INTERVAL_MS = 100;

export interface FolderCheckOptions {
  readonly cacheDirectory: string;
  readonly onProgress?: (progress: FolderCheckProgress) => void;
  /** 'batched-sync' for processes without a UI on their event loop (the CLI); see scanImageFolder. */
  readonly syscalls?: ScanSyscalls;
}

export async function checkImageFolder(folder: string, options: FolderCheckOptions): Promise<FolderCheck> {
  let listed = { files: 0, folders: 0 };
  const scan = await scanImageFolderOnce(folder, {
    excludeDirectories: [options.cacheDirectory],
    manifestDirectory: options.cacheDirectory,
    ...(options.syscalls ? { syscalls: options.syscalls } : {}),
    onProgress: (p) => {
      listed = { files: p.files, folders: p.folders };
      options.onProgress?.({ phase: 'listing', files: p.files, folders: p.folders, checked: 0, total: 0, done: p.done });
    },
  });
  const total = scan.images.length;
  let lastEmitted = performance.now();
  const problems = await imageHeadProblems(scan.images.map((i) => i.path), (checked) => {
    const now = performance.now();
    if (checked === total || now - lastEmitted < PROGRESS_INTERVAL_MS) return;
    lastEmitted = now;
    options.onProgress?.({ phase: 'headers', ...listed, checked, total, done: false });
  }, options.syscalls === 'batched-sync' ? 'batched-sync' : 'parallel');
  options.onProgress?.({ phase: 'headers', ...listed, checked: total, total, done: true });

  const images = scan.images.filter((_, i) => problems[i] === null);
  const skipped = [...scan.skipped, ...scan.images.flatMap((image, i) => {
    const reason = problems[i];
    return reason === null || reason === undefined ? [] : [{ path: image.path, relativePath: image.relativePath, reason }];
  })].sort((a, b) => compareRelativePaths(a.relativePath, b.relativePath));
  const classes = [...new Set(images.flatMap((i) => (i.className === null ? [] : [i.className])))].sort(compareNames);
  return { images, skipped, classes, candidates: total };
}
