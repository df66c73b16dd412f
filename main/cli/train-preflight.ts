/**
 * What `train` checks before it makes a run directory (issue 13, item 12): an empty folder, a
 * one-image folder or a batch larger than the folder used to leave a "failed" run with "Done: 0
 * steps". A scan (names and sizes, nothing decoded) is enough to refuse those; files that prove
 * undecodable later are still the trainer's to report.
 */
import type { TrainingSettings } from '../../shared/training-settings.js';
import { scanImageFolder, SUPPORTED_EXTENSIONS } from '../core/images/scan.js';

export async function assertFolderCanTrain(folder: string, settings: TrainingSettings, cacheDirectory: string): Promise<number> {
  const scan = await scanImageFolder(folder, { excludeDirectories: [cacheDirectory] });
  const count = scan.images.length;
  const kinds = [...SUPPORTED_EXTENSIONS].map((e) => e.slice(1)).join(', ');
  if (count === 0) {
    const examples = scan.skipped.slice(0, 3).map((s) => `${s.relativePath}: ${s.reason}`).join('; ');
    throw new Error(`No image in ${folder} (${scan.skipped.length} other file(s)${examples ? `: ${examples}` : ''}). Choose a folder with at least 2 images (${kinds}; subfolders are searched).`);
  }
  if (count === 1) throw new Error(`${folder} has only one image (${scan.images[0]!.relativePath}); MoCo contrasts images with each other and needs at least 2.`);
  if (settings.batchSize !== undefined && settings.batchSize > count) {
    throw new Error(`--batch ${settings.batchSize} is more than the ${count} images in ${folder}; use at most --batch ${count} (or leave --batch out to have it chosen).`);
  }
  return count;
}
