// Run-directory housekeeping (issue 13, "nothing lost"): what a kill mid-write and checkpoint
// retention leave behind is removed on open/resume, and nothing else is touched.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPaths } from '../../../main/core/run-store.js';
import { tidyRunDirectory } from '../../../main/core/run-maintenance.js';

describe('tidyRunDirectory', () => {
  let run: string;
  beforeAll(async () => { run = await mkdtemp(join(tmpdir(), 'moco-tidy-')); });
  afterAll(async () => { await rm(run, { recursive: true, force: true }); });

  it('removes embeddings of checkpoints retention removed and stale temporary files, and keeps everything else', async () => {
    const paths = runPaths(run);
    const byCheckpoint = join(paths.embeddings, 'by-checkpoint');
    await mkdir(paths.checkpoints, { recursive: true });
    for (const step of ['000000000', '000000008']) await writeFile(join(paths.checkpoints, `step-${step}.ckpt`), 'x');
    // explored during training: step 4 was one of the newest then, and retention has since removed its checkpoint
    for (const name of ['step-000000000', 'step-000000004', 'step-000000008', 'my-notes']) {
      await mkdir(join(byCheckpoint, name), { recursive: true });
      await writeFile(join(byCheckpoint, name, 'vectors.f32'), 'v');
    }
    await writeFile(join(paths.checkpoints, '.step-000000009.ckpt.0123456789ab.tmp'), 'partial');
    await writeFile(join(run, 'notes.tmp'), 'mine');

    const tidied = await tidyRunDirectory(run);
    expect(tidied.orphanedEmbeddings).toEqual([join(byCheckpoint, 'step-000000004')]);
    expect(tidied.temporaryFiles).toEqual([join(paths.checkpoints, '.step-000000009.ckpt.0123456789ab.tmp')]);
    expect((await readdir(byCheckpoint)).sort()).toEqual(['my-notes', 'step-000000000', 'step-000000008']);
    expect((await readdir(paths.checkpoints)).sort()).toEqual(['step-000000000.ckpt', 'step-000000008.ckpt']);
    expect(await readdir(run)).toContain('notes.tmp');
    expect(await tidyRunDirectory(run)).toEqual({ temporaryFiles: [], orphanedEmbeddings: [] }); // idempotent
  });

  it('is a no-op on a run that has no checkpoints or embeddings yet', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'moco-tidy-fresh-'));
    expect(await tidyRunDirectory(fresh)).toEqual({ temporaryFiles: [], orphanedEmbeddings: [] });
    await rm(fresh, { recursive: true, force: true });
  });
});
