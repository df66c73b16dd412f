/**
 * Bounded chart history: a series keeps at most `limit` points. When it fills, every bucket of
 * four neighbouring points (first and last excepted) is replaced by its minimum and maximum (in step order), halving the
 * series while keeping spikes, so a long run stays smooth to draw and honest to read.
 */
export interface SeriesPoint { x: number; y: number }

export function appendDecimated(series: SeriesPoint[], point: SeriesPoint, limit = 1000): void {
  series.push(point);
  if (series.length <= limit) return;
  // The first and last points stay; the ones between are bucketed.
  const compacted: SeriesPoint[] = [series[0]!];
  const last = series[series.length - 1]!;
  for (let i = 1; i < series.length - 1; i += 4) {
    const bucket = series.slice(i, Math.min(i + 4, series.length - 1));
    let min = bucket[0]!;
    let max = bucket[0]!;
    for (const p of bucket) {
      if (p.y < min.y) min = p;
      if (p.y > max.y) max = p;
    }
    if (min === max) compacted.push(min);
    else if (min.x < max.x) compacted.push(min, max);
    else compacted.push(max, min);
  }
  compacted.push(last);
  series.splice(0, series.length, ...compacted);
}
