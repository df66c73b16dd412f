/**
 * The trainer process under the app core's supervision: real fork, real training, real kill -9.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainerEvent } from '../../../shared/trainer-protocol.js';
import type { TrainingSettings } from '../../../shared/training-settings.js';
import { createRun, readJsonLines, readRunRecord, runPaths } from '../../../main/core/run-store.js';
import { writeSampleDataset } from '../../../main/core/sample-dataset.js';
import { TrainerHost } from '../../../main/core/trainer-host.js';
import { decodeCheckpoint, encodeCheckpoint, listCheckpoints } from '../../../main/trainer/checkpoint.js';

const settings: TrainingSettings = { epochs: 3, batchSize: 8, imageSize: 16, widthMultiplier: 1 / 8, backend: 'wasm', previewEvery: 5 };

function startTrainer(folder: string, runDirectory: string, cacheDirectory: string, resume: boolean, onEvent: (event: TrainerEvent, host: TrainerHost) => void): { host: TrainerHost; events: TrainerEvent[] } {
  const events: TrainerEvent[] = [];
  const host: TrainerHost = TrainerHost.fork((event) => {
    events.push(event);
    onEvent(event, host);
  });
  host.send({ type: 'start', folder, runDirectory, cacheDirectory, userSettings: settings, resume });
  return { host, events };
}

describe('trainer process', () => {
  let root: string;
  let folder: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'moco-host-'));
    folder = join(root, 'images');
    await writeSampleDataset(folder, { perClass: 4, size: 32 }); // 40 images: 5 steps of 8 per epoch
    // broken files among the good ones are skipped with a reason; the run goes on
    await writeFile(join(folder, 'circle', 'empty.png'), '');
    await writeFile(join(folder, 'circle', 'notes.jpg'), 'this is text, not a JPEG');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('survives kill -9 mid-epoch: the crash is reported and the run resumes from its last checkpoint to the end', async () => {
    const { directory } = await createRun({ runsRoot: join(root, 'runs'), folder, userSettings: settings });
    let killedAt = -1;
    const first = startTrainer(folder, directory, join(root, 'cache'), false, (event, host) => {
      // after the epoch-1 checkpoint, kill in the middle of epoch 2
      if (event.type === 'progress' && event.epoch === 1 && event.step === 2 && killedAt < 0) {
        killedAt = event.globalStep;
        host.kill();
      }
    });
    const exit = await first.host.exited;
    expect(exit.crashed).toBe(true);
    expect(exit.signal).toBe('SIGKILL');
    expect(first.events.find((e) => e.type === 'error')).toMatchObject({ code: 'crashed', message: expect.stringMatching(/killed by SIGKILL.*resume/) as unknown });
    const dataset = first.events.find((e) => e.type === 'dataset');
    expect(dataset).toMatchObject({ used: 40, skipped: expect.arrayContaining([expect.objectContaining({ path: 'circle/empty.png' }), expect.objectContaining({ path: 'circle/notes.jpg' })]) as unknown });
    expect(first.events.some((e) => e.type === 'preview')).toBe(true);
    expect(killedAt).toBe(7);
    expect((await readRunRecord(directory)).settings).toMatchObject({ batchSize: 8, epochs: 3 });

    const second = startTrainer(folder, directory, join(root, 'cache'), true, () => undefined);
    const resumedExit = await second.host.exited;
    expect(resumedExit.crashed).toBe(false);
    expect(second.events.some((e) => e.type === 'log' && /resumed from .*step-000000005\.ckpt/.test(e.message))).toBe(true);
    expect(second.events.find((e) => e.type === 'dataset')).toMatchObject({ fromCache: 40 });
    const done = second.events.find((e) => e.type === 'done');
    expect(done).toMatchObject({ reason: 'finished', summary: { epochs: 3, steps: 15 } });
    // the resumed process ran epochs 2 and 3 only
    const steps = second.events.filter((e) => e.type === 'metrics').map((e) => (e as { globalStep: number }).globalStep);
    expect(steps[0]).toBe(6);
    expect(steps.at(-1)).toBe(15);
    expect((await readRunRecord(directory)).status).toBe('finished');
    // steps 6-7 ran twice (before the kill and after the resume) but are recorded once, in order
    const metrics = (await readJsonLines(runPaths(directory).metrics)) as { step: number }[];
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });

  it('pauses, resumes and stops on command, writing a checkpoint on stop', async () => {
    const { directory } = await createRun({ runsRoot: join(root, 'runs'), folder, userSettings: { ...settings, epochs: 20 } });
    const states: string[] = [];
    let stepsWhilePaused = 0;
    let paused = false;
    const run = startTrainer(folder, directory, join(root, 'cache'), false, (event, host) => {
      if (event.type === 'state') states.push(event.state);
      if (event.type === 'metrics' && paused) stepsWhilePaused++;
      if (event.type === 'metrics' && event.globalStep === 2 && !paused) {
        paused = true;
        host.send({ type: 'pause' });
        setTimeout(() => {
          paused = false;
          host.send({ type: 'resume' });
        }, 1500);
      }
      if (event.type === 'metrics' && event.globalStep === 8) host.send({ type: 'stop' });
    });
    await run.host.exited;
    expect(states).toEqual(expect.arrayContaining(['loading', 'training', 'paused', 'stopping']));
    expect(stepsWhilePaused).toBeLessThanOrEqual(1); // at most the step already running when pause arrived
    const done = run.events.find((e) => e.type === 'done') as Extract<TrainerEvent, { type: 'done' }>;
    // stop lands between steps: after step 8, or after step 9 if 9 had already begun when it arrived
    expect(done.reason).toBe('stopped');
    expect([8, 9]).toContain(done.summary.steps);
    // Step 0 (the random start, kept for exploring and comparing: issue 12 item 3), the epoch end, the stop.
    expect(run.events.filter((e) => e.type === 'checkpoint').map((e) => (e as { globalStep: number }).globalStep)).toEqual([0, 5, done.summary.steps]);
    expect((await readRunRecord(directory)).status).toBe('stopped');
  });

  it('stops on a non-finite loss with a clear error and writes no checkpoint after it', async () => {
    const { directory } = await createRun({ runsRoot: join(root, 'runs'), folder, userSettings: { ...settings, epochs: 2 } });
    const first = startTrainer(folder, directory, join(root, 'cache'), false, (event, host) => {
      if (event.type === 'checkpoint') host.send({ type: 'stop' });
    });
    await first.host.exited;
    // Poison the newest checkpoint's weights (a real checkpoint, re-encoded with a valid digest):
    // the next step's loss is NaN.
    const [path] = (await listCheckpoints(runPaths(directory).checkpoints)).slice(-1);
    const checkpoint = decodeCheckpoint(await readFile(path!), path!);
    const poisoned = checkpoint.state.tensors.map((t) => (t.name === 'query/head.fc.weight' ? { ...t, values: t.values.map(() => Number.NaN) } : t));
    await writeFile(path!, encodeCheckpoint(checkpoint.config, { meta: checkpoint.state.meta, tensors: poisoned }));
    const before = await listCheckpoints(runPaths(directory).checkpoints);

    const resumed = startTrainer(folder, directory, join(root, 'cache'), true, () => undefined);
    const exit = await resumed.host.exited;
    expect(exit.crashed).toBe(false);
    expect(resumed.events.find((e) => e.type === 'error')).toMatchObject({ code: 'non-finite-loss', message: expect.stringMatching(/loss became NaN .*last good checkpoint is kept/) as unknown });
    expect(resumed.events.find((e) => e.type === 'done')).toMatchObject({ reason: 'failed' });
    expect(await listCheckpoints(runPaths(directory).checkpoints)).toEqual(before);
    expect((await readRunRecord(directory)).status).toBe('failed');
  });

  it('reports a folder without usable images as an error before training', async () => {
    const empty = join(root, 'empty');
    await writeSampleDataset(empty, { perClass: 1, size: 32 }).then(() => rm(empty, { recursive: true }));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(empty);
    await writeFile(join(empty, 'readme.txt'), 'no images here');
    const { directory } = await createRun({ runsRoot: join(root, 'runs'), folder: empty, userSettings: settings });
    const run = startTrainer(empty, directory, join(root, 'cache'), false, () => undefined);
    const exit = await run.host.exited;
    expect(exit.crashed).toBe(false);
    expect(run.events.find((e) => e.type === 'error')).toMatchObject({ message: expect.stringMatching(/No usable image in .*empty/) as unknown });
    expect(run.events.some((e) => e.type === 'metrics')).toBe(false);
  });
});
