/** The kNN monitor's confusion counts and per-class accuracy (issue 12 item 5): pure, used by the trainer and the UI. */

/** counts[truth][predicted] for labels and predictions in [0, numClasses). */
export function confusionCounts(labels: ArrayLike<number>, predictions: ArrayLike<number>, numClasses: number): number[][] {
  if (labels.length !== predictions.length) throw new Error(`confusionCounts: ${labels.length} labels for ${predictions.length} predictions`);
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const row = counts[labels[i]!];
    if (row && predictions[i]! >= 0 && predictions[i]! < numClasses) row[predictions[i]!]!++;
  }
  return counts;
}

/** Per class: the share of its images predicted as it (null for a class without images). */
export function perClassAccuracy(counts: readonly (readonly number[])[]): (number | null)[] {
  return counts.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? null : (row[c] ?? 0) / total;
  });
}
