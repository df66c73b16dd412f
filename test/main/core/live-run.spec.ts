import { describe, expect, it } from 'vitest';
import { LiveRunSnapshot } from '../../../main/core/live-run.js';

describe('LiveRunSnapshot (what a reloaded page replays; issue 12 item 2)', () => {
  it('keeps the latest event of each describing kind, warnings in order, the state last', () => {
    const live = new LiveRunSnapshot('run-1');
    live.record({ type: 'state', state: 'loading' });
    live.record({ type: 'backend', name: 'wasm', attempts: [], adapter: null });
    live.record({ type: 'progress', epoch: 0, epochs: 2, step: 1, stepsPerEpoch: 5, globalStep: 1, totalSteps: 10, imagesPerSecond: 3, etaSeconds: 9 });
    live.record({ type: 'state', state: 'training' });
    live.record({ type: 'metrics', epoch: 0, globalStep: 2, metrics: { loss: 1, top1: 0, top5: 0, positiveLogit: 0, negativeLogit: 0, embeddingStd: 0.1, queueFill: 0.5, learningRate: 0.1 } });
    live.record({ type: 'progress', epoch: 0, epochs: 2, step: 2, stepsPerEpoch: 5, globalStep: 2, totalSteps: 10, imagesPerSecond: 3, etaSeconds: 8 });
    live.record({ type: 'warning', message: 'a' });
    live.record({ type: 'state', state: 'paused' });
    const events = live.events();
    expect(events.map((e) => e.type)).toEqual(['backend', 'progress', 'warning', 'state']);
    expect(events.find((e) => e.type === 'progress')).toMatchObject({ globalStep: 2 });
    expect(events[events.length - 1]).toEqual({ type: 'state', state: 'paused' });
  });

  it('replays the run\'s done after its state: a page reloaded while the trainer exits sees the run finished', () => {
    const live = new LiveRunSnapshot('run-1');
    live.record({ type: 'state', state: 'training' });
    const done = { type: 'done', reason: 'finished', summary: { imagesUsed: 4, imagesSkipped: 0, epochs: 1, steps: 2, imagesPerSecond: 1, finalLoss: 1, knnTop1: null, knnTop1AtStart: null, backend: 'wasm', runDirectory: '/r', checkpoint: null } } as const;
    live.record(done);
    const events = live.events();
    expect(events.map((e) => e.type)).toEqual(['state', 'done']);
    expect(events[1]).toEqual(done);
  });

  it('keeps the last 20 warnings only', () => {
    const live = new LiveRunSnapshot('run-1');
    for (let i = 0; i < 30; i++) live.record({ type: 'warning', message: String(i) });
    const warnings = live.events().filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(20);
    expect(warnings[0]).toEqual({ type: 'warning', message: '10' });
  });
});
