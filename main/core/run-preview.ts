/** The newest augmentation preview a run kept (`preview.json`, written by the trainer): null when absent or unreadable. */
import { readFile } from 'node:fs/promises';
import { previewEventSchema } from '../../shared/trainer-protocol.js';
import type { TrainerEventOf } from '../../shared/trainer-protocol.js';
import { runPaths } from './run-store.js';

export async function readRunPreview(runDirectory: string): Promise<TrainerEventOf<'preview'> | null> {
  try {
    const parsed = previewEventSchema.safeParse(JSON.parse(await readFile(runPaths(runDirectory).preview, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // no preview yet (or a run from before previews were kept)
  }
}
