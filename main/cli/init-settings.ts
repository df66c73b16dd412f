/** `train --init <run>` (issue 11): the new run must have the source run's encoder shape. */
import type { TrainingSettings } from '../../shared/training-settings.js';
import { readRunRecord } from '../core/run-store.js';

/** The user's settings with the source's architecture fields; a conflicting explicit flag is an error naming it. */
export async function settingsForInit(user: TrainingSettings, sourceRun: string): Promise<TrainingSettings> {
  const source = (await readRunRecord(sourceRun)).settings;
  if (!source) throw new Error(`--init ${sourceRun}: that run has no settings yet (it never trained or was not imported)`);
  const fixed = { architecture: source.architecture, widthMultiplier: source.widthMultiplier, smallImageStem: source.smallImageStem, head: source.head, dim: source.dim } as const;
  for (const [field, value] of Object.entries(fixed)) {
    const given = user[field as keyof typeof fixed];
    if (given !== undefined && given !== value) throw new Error(`--init ${sourceRun}: its encoder has ${field} ${String(value)}, the options ask for ${String(given)}; drop that option`);
  }
  // An ImageNet-stem encoder keeps its image size unless told otherwise (32 px would leave it a 1x1 map).
  return { ...user, ...fixed, ...(user.imageSize === undefined && !source.smallImageStem ? { imageSize: source.imageSize } : {}) };
}
