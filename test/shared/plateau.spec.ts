import { describe, expect, it } from 'vitest';
import { detectPlateau } from '../../shared/plateau.js';

describe('plateau detection (issue 10)', () => {
  it('waits for patience + 1 epochs, then flags kNN that stopped rising', () => {
    expect(detectPlateau('knn', [0.3, 0.4, 0.41])).toBeNull();
    expect(detectPlateau('knn', [0.3, 0.4, 0.45, 0.5, 0.55])).toBeNull();
    const flat = detectPlateau('knn', [0.3, 0.5, 0.49, 0.502, 0.5]);
    expect(flat).toMatchObject({ metric: 'knn', best: 0.502, epochsWithoutGain: 1 });
    expect(flat!.message).toMatch(/kNN top-1 has not improved by 0.5 points in 3 epochs \(best 50.2 % at epoch 4\)/);
  });

  it('flags a loss that stopped falling, relative to its size', () => {
    expect(detectPlateau('loss', [6, 5, 4.5, 4, 3.5])).toBeNull();
    const flat = detectPlateau('loss', [6, 4, 3.99, 3.98, 3.985]);
    expect(flat).toMatchObject({ metric: 'loss', best: 3.98 });
    expect(flat!.message).toMatch(/the loss has not fallen by 1 % in 3 epochs/);
  });
});
