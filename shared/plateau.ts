/**
 * Plateau detection for the run's progress signal (issue 10): the kNN monitor when the folder
 * has classes, else the epoch's mean InfoNCE loss. A run has plateaued when the best value of
 * the last `patience` epochs improves on the best before them by less than `minDelta`
 * (absolute for kNN, relative for the loss). Pure: the trainer emits it, the UI offers to stop.
 */
export interface PlateauOptions {
  readonly patience: number;
  /** kNN: absolute top-1 gain; loss: fraction of the earlier best. */
  readonly minDelta: number;
}

export const DEFAULT_PLATEAU: Readonly<Record<'knn' | 'loss', PlateauOptions>> = {
  knn: { patience: 3, minDelta: 0.005 },
  loss: { patience: 3, minDelta: 0.01 },
};

export interface Plateau {
  readonly metric: 'knn' | 'loss';
  /** Epochs (1-based) since the best value was reached. */
  readonly epochsWithoutGain: number;
  readonly best: number;
  readonly message: string;
}

/** `values` per epoch in order; higher is better for kNN, lower for the loss. Null while too early. */
export function detectPlateau(metric: 'knn' | 'loss', values: readonly number[], options: PlateauOptions = DEFAULT_PLATEAU[metric]): Plateau | null {
  const { patience, minDelta } = options;
  if (values.length < patience + 1) return null;
  const earlier = values.slice(0, values.length - patience);
  const recent = values.slice(values.length - patience);
  const better = (a: number, b: number): boolean => (metric === 'knn' ? a > b : a < b);
  const bestOf = (xs: readonly number[]): number => xs.reduce((best, x) => (better(x, best) ? x : best));
  const before = bestOf(earlier);
  const lately = bestOf(recent);
  const gain = metric === 'knn' ? lately - before : (before - lately) / Math.max(1e-12, Math.abs(before));
  if (gain >= minDelta) return null;
  const best = better(lately, before) ? lately : before;
  const bestEpoch = values.lastIndexOf(best) + 1;
  const epochsWithoutGain = values.length - bestEpoch;
  const what = metric === 'knn'
    ? `kNN top-1 has not improved by ${(minDelta * 100).toFixed(1)} points in ${patience} epochs (best ${(best * 100).toFixed(1)} % at epoch ${bestEpoch})`
    : `the loss has not fallen by ${(minDelta * 100).toFixed(0)} % in ${patience} epochs (best ${best.toFixed(4)} at epoch ${bestEpoch})`;
  return { metric, epochsWithoutGain, best, message: `Training has plateaued: ${what}. Stopping now keeps the last checkpoint.` };
}
