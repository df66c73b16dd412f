import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppCore } from '../../../main/core/app-core.js';
import { parseInvokeRequest } from '../../../shared/contract.js';

describe('training:status and training:estimate at the contract (issue 12)', () => {
  const home = mkdtempSync(join(tmpdir(), 'moco-status-'));
  afterAll(() => { rmSync(home, { recursive: true, force: true }); });

  it('reports no active run and no events when nothing trains', async () => {
    const core = new AppCore({ dataDirectory: home, transport: 'websocket' });
    expect(await core.invoke('training:status', {})).toEqual({ runId: null, events: [] });
  });

  it('validates the estimate request, naming the field', () => {
    expect(() => parseInvokeRequest('training:estimate', { settings: {}, imageCount: 1 })).toThrow(/imageCount/);
    expect(() => parseInvokeRequest('training:estimate', { settings: { batchSize: 1 }, imageCount: 100 })).toThrow(/settings\.batchSize/);
    expect(parseInvokeRequest('training:estimate', { settings: { epochs: 3 }, imageCount: 100 }).request).toEqual({ settings: { epochs: 3 }, imageCount: 100 });
  });

  it('refuses settings that cannot be resolved for the folder with a clear error, without forking a trainer', async () => {
    const core = new AppCore({ dataDirectory: home, transport: 'websocket', forkTrainer: () => { throw new Error('no trainer should be started'); } });
    await expect(core.invoke('training:estimate', { settings: { batchSize: 64 }, imageCount: 10 })).rejects.toThrow(/batchSize: 64 is more than the 10 usable images/);
  });
});
