import { describe, expect, it } from 'vitest';
import { queueFillingEnd, smoothSeries } from '../../../renderer/src/lib/smoothing.js';

describe('smoothSeries (TensorBoard-style debiased EMA)', () => {
  it('keeps the points with weight 0', () => {
    expect(smoothSeries([{ x: 1, y: 3 }, { x: 2, y: 5 }], 0)).toEqual([{ x: 1, y: 3 }, { x: 2, y: 5 }]);
  });

  it('starts at the first value (debiased) and moves toward later ones', () => {
    const out = smoothSeries([{ x: 1, y: 10 }, { x: 2, y: 0 }, { x: 3, y: 0 }], 0.9);
    expect(out[0]!.y).toBeCloseTo(10);
    // m2 = 0.9 * 1 = 0.9 ... / (1 - 0.81) = 4.7368
    expect(out[1]!.y).toBeCloseTo(0.9 / 0.19, 6);
    expect(out[2]!.y).toBeLessThan(out[1]!.y);
    expect(out.map((p) => p.x)).toEqual([1, 2, 3]);
  });

  it('leaves a constant series constant', () => {
    for (const p of smoothSeries(Array.from({ length: 20 }, (_, i) => ({ x: i, y: 2.5 })), 0.95)) expect(p.y).toBeCloseTo(2.5, 9);
  });
});

describe('queueFillingEnd', () => {
  it('is the last step before the queue held K keys', () => {
    expect(queueFillingEnd([{ x: 1, y: 0.25 }, { x: 2, y: 0.5 }, { x: 3, y: 0.75 }, { x: 4, y: 1 }, { x: 5, y: 1 }])).toBe(3);
  });
  it('is null when the queue was full from the first step (a resumed run)', () => {
    expect(queueFillingEnd([{ x: 10, y: 1 }])).toBeNull();
  });
});
