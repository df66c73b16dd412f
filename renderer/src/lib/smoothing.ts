/**
 * TensorBoard's scalar smoothing (issue 12 item 5): an exponential moving average with weight w
 * in [0, 1), debiased as in Adam (Kingma & Ba 2015) so the first points are not pulled to 0:
 *   m_i = w m_{i-1} + (1 - w) y_i,   smoothed_i = m_i / (1 - w^i).
 * w = 0 returns the points unchanged; non-finite values are passed through unsmoothed.
 */
import type { SeriesPoint } from './decimate.js';

export function smoothSeries(points: readonly SeriesPoint[], weight: number): SeriesPoint[] {
  if (!(weight > 0)) return points.map((p) => ({ x: p.x, y: p.y }));
  const w = Math.min(weight, 0.999);
  let moving = 0;
  let count = 0;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return { x: p.x, y: p.y };
    count++;
    moving = w * moving + (1 - w) * p.y;
    return { x: p.x, y: moving / (1 - w ** count) };
  });
}

/** The last step at which the queue still held fewer than K real keys (fill < 1), or null when it was full from the start. */
export function queueFillingEnd(fill: readonly SeriesPoint[]): number | null {
  let end: number | null = null;
  for (const p of fill) {
    if (p.y < 1) end = p.x;
    else break;
  }
  return end;
}
