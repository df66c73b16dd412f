/**
 * What `train` checks before it makes a run directory (issue 13 item 12, issue 12 item 1): an
 * empty folder, a one-image folder or a batch larger than the folder used to leave a "failed" run
 * with "Done: 0 steps". The folder check (names and stats, then each candidate's first bytes;
 * nothing decoded) is enough to refuse those, so three text files named .jpg count as none. Its
 * scan is stored for the trainer, which then does not walk the folder again (issue 14). Files
 * that prove undecodable later are still the trainer's to report.
 */
import type { TrainingSettings } from '../../shared/training-settings.js';
import { checkImageFolder, type FolderCheckProgress } from '../core/folder-check.js';
import { SUPPORTED_EXTENSIONS } from '../core/images/scan.js';

/** One line for the terminal, e.g. "Scanning: 1,204 files, 31 folders" or "Checking headers: 80 / 1,200". */
export function describeFolderCheck(progress: FolderCheckProgress): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  return progress.phase === 'listing'
    ? `Scanning the folder: ${n(progress.files)} files, ${n(progress.folders)} folders${progress.done ? ', done' : ''}`
    : `Checking image headers: ${n(progress.checked)} / ${n(progress.total)}${progress.done ? ', done' : ''}`;
}

export async function assertFolderCanTrain(folder: string, settings: TrainingSettings, cacheDirectory: string, onProgress?: (progress: FolderCheckProgress) => void): Promise<number> {
  // Synchronous batches: nothing else runs on the CLI's event loop during the check (scan.ts).
  const scan = await checkImageFolder(folder, { cacheDirectory, syscalls: 'batched-sync', ...(onProgress ? { onProgress } : {}) });
  const count = scan.images.length;
  const kinds = [...SUPPORTED_EXTENSIONS].map((e) => e.slice(1)).join(', ');
  const examples = scan.skipped.slice(0, 3).map((s) => `${s.relativePath}: ${s.reason}`).join('; ');
  if (count === 0) {
    throw new Error(`No image in ${folder} (${scan.skipped.length} other file(s)${examples ? `: ${examples}` : ''}). Choose a folder with at least 2 images (${kinds}; subfolders are searched).`);
  }
  if (count === 1) {
    const others = scan.skipped.length > 0 ? ` (${scan.skipped.length} file(s) skipped: ${examples}${scan.skipped.length > 3 ? '; ...' : ''})` : '';
    throw new Error(`${folder} has only one image (${scan.images[0]!.relativePath})${others}; MoCo contrasts images with each other and needs at least 2.`);
  }
  if (settings.batchSize !== undefined && settings.batchSize > count) {
    throw new Error(`--batch ${settings.batchSize} is more than the ${count} images in ${folder}; use at most --batch ${count} (or leave --batch out to have it chosen).`);
  }
  return count;
}
