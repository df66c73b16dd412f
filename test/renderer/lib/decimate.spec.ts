import { describe, expect, it } from 'vitest';
import { appendDecimated, type SeriesPoint } from '../../../renderer/src/lib/decimate.js';

describe('appendDecimated', () => {
  it('keeps every point until the limit', () => {
    const series: SeriesPoint[] = [];
    for (let x = 0; x < 100; x++) appendDecimated(series, { x, y: x }, 100);
    expect(series).toHaveLength(100);
  });

  it('stays within the limit over a long run, in step order, with the first and last points', () => {
    const series: SeriesPoint[] = [];
    for (let x = 0; x < 50_000; x++) appendDecimated(series, { x, y: Math.sin(x / 50) }, 1000);
    expect(series.length).toBeLessThanOrEqual(1000);
    expect(series.length).toBeGreaterThan(400);
    expect(series[0]!.x).toBe(0);
    expect(series[series.length - 1]!.x).toBe(49_999);
    for (let i = 1; i < series.length; i++) expect(series[i]!.x).toBeGreaterThan(series[i - 1]!.x);
  });

  it('keeps a one-step spike', () => {
    const series: SeriesPoint[] = [];
    for (let x = 0; x < 20_000; x++) appendDecimated(series, { x, y: x === 7777 ? 100 : 1 }, 1000);
    expect(Math.max(...series.map((p) => p.y))).toBe(100);
  });
});
