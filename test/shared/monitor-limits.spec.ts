import { describe, expect, it } from 'vitest';
import { embeddedImagesOfRun, KNN_MONITOR_LIMIT, spreadSubsetSize, UNSUPERVISED_MONITOR_LIMIT } from '../../shared/monitor-limits.js';

describe('the images a run embeds besides its steps (the estimate before Start, issue 12)', () => {
  it('counts an evenly spread subset as the monitors take it: every stride-th image', () => {
    expect(spreadSubsetSize(400, KNN_MONITOR_LIMIT)).toBe(400);
    expect(spreadSubsetSize(2001, KNN_MONITOR_LIMIT)).toBe(1001); // stride 2
    expect(spreadSubsetSize(100_000, KNN_MONITOR_LIMIT)).toBe(2000);
    expect(spreadSubsetSize(100_000, UNSUPERVISED_MONITOR_LIMIT)).toBe(1000);
  });

  it('with classes: the random-init baseline and one kNN check per epoch, then every image once', () => {
    expect(embeddedImagesOfRun(400, 5, true)).toBe(400 * 6 + 400);
    expect(embeddedImagesOfRun(100_000, 10, true)).toBe(2000 * 11 + 100_000);
  });

  it('without classes: the label-free signal once per epoch, then every image once', () => {
    expect(embeddedImagesOfRun(400, 5, false)).toBe(400 * 5 + 400);
    expect(embeddedImagesOfRun(100_000, 10, false)).toBe(1000 * 10 + 100_000);
  });
});
