/**
 * The estimate before Start (issue 12, "an honest ETA"), through AppCore with the real trainer
 * process: from Start to finished, it adds the trainer's start-up the job measured (process,
 * tfjs, backend, first compilation: seconds, as long as a quick run's steps) and the embedding
 * the run's kNN checks and final embeddings cost, to the timed steps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppCore } from '../../../main/core/app-core.js';

const TINY = { epochs: 3, imageSize: 16, widthMultiplier: 0.0625, batchSize: 16, backend: 'wasm' as const, workers: 1 };

describe('training:estimate from Start to finished (real trainer)', () => {
  const home = mkdtempSync(join(tmpdir(), 'moco-estimate-'));
  const core = new AppCore({ dataDirectory: home, transport: 'websocket' });
  afterAll(() => { rmSync(home, { recursive: true, force: true }); });

  it('adds the measured start-up and the embedding work to the timed steps', async () => {
    const answer = await core.invoke('training:estimate', { settings: TINY, imageCount: 64, hasClasses: true });
    expect(answer.backend).toBe('wasm');
    expect(answer.cached).toBe(false);
    expect(answer.totalSteps).toBe(4 * 3);
    expect(answer.trainingSeconds).toBeCloseTo(answer.secondsPerStep * 12, 9);
    // A forked Node process that loads tfjs and its wasm backend takes well over 0.2 s on any machine.
    expect(answer.startupSeconds).toBeGreaterThan(0.2);
    // With classes: the random-init baseline and 3 kNN checks of the 64 images, then the 64 once more.
    expect(answer.embeddedImages).toBe(64 * 4 + 64);
    expect(answer.embeddingSeconds).toBeGreaterThan(0);
    expect(answer.totalSeconds).toBeCloseTo(answer.startupSeconds + answer.trainingSeconds + answer.embeddingSeconds, 9);
  }, 120_000);

  it('answers from the same measurement for the same shape, counting the work of the run asked about', async () => {
    const first = await core.invoke('training:estimate', { settings: TINY, imageCount: 64, hasClasses: true });
    const longer = await core.invoke('training:estimate', { settings: { ...TINY, epochs: 6 }, imageCount: 64, hasClasses: false });
    expect(longer.cached).toBe(true);
    expect(longer.startupSeconds).toBe(first.startupSeconds);
    expect(longer.totalSteps).toBe(4 * 6);
    expect(longer.embeddedImages).toBe(64 * 6 + 64); // no classes: no baseline, the label-free signal per epoch
  }, 60_000);
});
