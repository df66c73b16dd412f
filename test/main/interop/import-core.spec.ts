/**
 * The Runs view's Import (issue 11) through the contract: runs:import validated by dispatch, the
 * app core imports the checkpoint, embeds the chosen folder in a real trainer process, and the
 * imported run answers neighbours and the map without training.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppCore } from '../../../main/core/app-core.js';
import { dispatchInvoke } from '../../../main/core/dispatch.js';
import { writeSampleDataset } from '../../../main/core/sample-dataset.js';
import { fixtureBytes } from './fixtures.js';

describe('runs:import', () => {
  let root: string;
  let core: AppCore;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'moco-import-core-'));
    await writeSampleDataset(join(root, 'images'), { perClass: 3 });
    await writeFile(join(root, 'tv18.pth'), fixtureBytes('tv-resnet18-legacy.pth.gz'));
    core = new AppCore({ dataDirectory: join(root, 'data'), transport: 'websocket' });
  });
  afterAll(async () => {
    await core.shutdown();
    await rm(root, { recursive: true, force: true });
  });

  it('imports into a run whose neighbours and map work at once; bad paths are errors naming the file', async () => {
    const chosen = await dispatchInvoke(core, 'folder:choose', { path: join(root, 'images') });
    if (!chosen.ok) throw new Error(chosen.error.message);
    const folderId = (chosen.response as { folderId: string }).folderId;
    const imported = await dispatchInvoke(core, 'runs:import', { path: join(root, 'tv18.pth'), folderId });
    if (!imported.ok) throw new Error(imported.error.message);
    const { runId, layout, format } = imported.response as { runId: string; layout: string; format: string };
    expect({ layout, format }).toEqual({ layout: 'torchvision', format: 'legacy' });
    const list = await dispatchInvoke(core, 'runs:list', {});
    if (!list.ok) throw new Error(list.error.message);
    const run = (list.response as { runs: { id: string; hasEmbeddings: boolean; status: string }[] }).runs.find((r) => r.id === runId);
    expect(run).toMatchObject({ hasEmbeddings: true, status: 'finished' });
    const neighbours = await dispatchInvoke(core, 'neighbours:query', { runId, row: 0, k: 5 });
    expect(neighbours.ok && (neighbours.response as { neighbours: unknown[] }).neighbours).toHaveLength(5);
    const map = await dispatchInvoke(core, 'embeddings:map', { runId });
    expect(map.ok && (map.response as { rows: number }).rows).toBe(30);
    const missing = await dispatchInvoke(core, 'runs:import', { path: join(root, 'missing.pth'), folderId });
    expect(missing).toMatchObject({ ok: false, error: { message: expect.stringMatching(/missing\.pth: no such file/) as unknown } });
  });
});
