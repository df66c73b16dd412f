/** Where a run's pixel "embeddings" live (main/trainer/pixel-embeddings.ts), without loading tfjs into the app core. */
import { join } from 'node:path';
import { runPaths } from '../run-store.js';

/** The manifest's `checkpoint` of pixel embeddings (they come from no checkpoint), and the name of their directory. */
export const PIXELS_SOURCE = 'pixels';

/** `<run>/embeddings/pixels/` */
export function pixelEmbeddingsDirectory(runDirectory: string): string {
  return join(runPaths(runDirectory).embeddings, PIXELS_SOURCE);
}
