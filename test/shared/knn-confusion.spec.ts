import { describe, expect, it } from 'vitest';
import { confusionCounts, perClassAccuracy } from '../../shared/knn-confusion.js';

describe('kNN confusion counts (issue 12 item 5)', () => {
  it('counts truth x prediction and gives per-class accuracy from the diagonal', () => {
    const counts = confusionCounts([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 1, 0], 4);
    expect(counts).toEqual([[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]);
    const accuracy = perClassAccuracy(counts);
    expect(accuracy[0]).toBeCloseTo(2 / 3);
    expect(accuracy[1]).toBe(1);
    expect(accuracy[2]).toBe(0);
    expect(accuracy[3]).toBeNull(); // no image of that class
  });

  it('refuses mismatched lengths', () => {
    expect(() => confusionCounts([0, 1], [0], 2)).toThrow(/2 labels for 1 predictions/);
  });
});
