/**
 * How many images the trainer's per-epoch monitors embed (main/trainer/knn-monitor.ts,
 * unsupervised-monitor.ts): an evenly spread subset of at most these many. Shared so the
 * estimate before Start (main/core/training-estimate.ts) counts the same embedding work.
 */
export const KNN_MONITOR_LIMIT = 2000;
export const UNSUPERVISED_MONITOR_LIMIT = 1000;

/** Images in an evenly spread subset of at most `limit` of `count` (every stride-th image). */
export function spreadSubsetSize(count: number, limit: number): number {
  const stride = Math.max(1, Math.ceil(count / limit));
  return Math.ceil(count / stride);
}

/**
 * Images the trainer embeds over a run besides its steps: with classes the kNN monitor's subset
 * once for the random-init baseline and once per epoch; without, the label-free monitor's subset
 * once per epoch; then every image once for the run's embeddings when it finishes.
 */
export function embeddedImagesOfRun(imageCount: number, epochs: number, hasClasses: boolean): number {
  const monitored = hasClasses ? spreadSubsetSize(imageCount, KNN_MONITOR_LIMIT) : spreadSubsetSize(imageCount, UNSUPERVISED_MONITOR_LIMIT);
  return monitored * (epochs + (hasClasses ? 1 : 0)) + imageCount;
}
