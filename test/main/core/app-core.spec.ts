/**
 * The app core end to end, through the same WebSocket server the browser uses: choose the
 * sample folder, train a tiny real run in a real trainer process, then list, open, query
 * neighbours, map and export it. Plus PCA on data with known principal axes.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { EventPayload, FolderSummary, InvokeChannel, InvokeRequest, InvokeResponse } from '../../../shared/contract.js';
import type { TrainerEvent } from '../../../shared/trainer-protocol.js';
import { base64ToFloat32 } from '../../../shared/binary-base64.js';
import { AppCore } from '../../../main/core/app-core.js';
import { dispatchInvoke } from '../../../main/core/dispatch.js';
import { pca } from '../../../main/core/pca.js';
import { decimate } from '../../../main/core/run-exports.js';
import { ZipReader } from '../../../main/interop/zip-archive.js';
import { writeSampleDataset } from '../../../main/core/sample-dataset.js';
import { startServer, type RunningServer } from '../../../main/server/http-server.js';
import { backdateDirectories } from './images/backdate.js';

describe('pca', () => {
  it('finds known principal axes with their explained variance and a deterministic sign', () => {
    // points along axis a = (3,4,0)/5 with variance ~100 and b = (0,0,1) with variance ~4, plus tiny noise
    const rows = 400;
    const data = new Float64Array(rows * 3);
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    for (let r = 0; r < rows; r++) {
      const s = (r % 2 === 0 ? 1 : -1) * 10 * Math.sqrt(3) * 2 * rand() * 1; // uniform, var 100
      const t = 2 * Math.sqrt(3) * 2 * rand(); // var 4
      data[r * 3] = 5 + (s * 3) / 5 + 0.001 * rand();
      data[r * 3 + 1] = -2 + (s * 4) / 5 + 0.001 * rand();
      data[r * 3 + 2] = 1 + t;
    }
    const result = pca(data, rows, 3, 2);
    const a = Array.from(result.axes.subarray(0, 3));
    const b = Array.from(result.axes.subarray(3, 6));
    expect(a[0]).toBeCloseTo(0.6, 2);
    expect(a[1]).toBeCloseTo(0.8, 2); // largest coordinate positive
    expect(Math.abs(a[2]!)).toBeLessThan(0.02);
    expect(Math.abs(b[2]!)).toBeCloseTo(1, 2);
    expect(b[2]!).toBeGreaterThan(0);
    const total = result.variances[0]! + result.variances[1]!;
    expect(result.explainedVariance[0]! + result.explainedVariance[1]!).toBeCloseTo(1, 4);
    expect(result.explainedVariance[0]!).toBeCloseTo(result.variances[0]! / total, 4);
    expect(result.variances[0]! / result.variances[1]!).toBeGreaterThan(10);
    // projections are centred
    let mean0 = 0;
    for (let r = 0; r < rows; r++) mean0 += result.points[r * 2]!;
    expect(Math.abs(mean0 / rows)).toBeLessThan(1e-9);
    expect(pca(data, rows, 3, 2).points).toEqual(result.points); // deterministic
  });

  it('decimates long histories to every n-th point plus the last', () => {
    const items = Array.from({ length: 10_001 }, (_, i) => i);
    const kept = decimate(items, 2000);
    expect(kept.length).toBeLessThanOrEqual(2000);
    expect(kept[0]).toBe(0);
    expect(kept[kept.length - 1]).toBe(10_000);
    expect(decimate([1, 2, 3], 2000)).toEqual([1, 2, 3]);
  });
});

type Frame = { id?: number; ok?: boolean; response?: unknown; error?: { code: string; message: string }; event?: string; payload?: unknown };

describe('app core through the WebSocket server', () => {
  let root: string;
  let core: AppCore;
  let server: RunningServer;
  let ws: WebSocket;
  const events: Frame[] = [];
  const pending = new Map<number, (frame: Frame) => void>();
  let nextId = 1;

  async function call<C extends InvokeChannel>(channel: C, request: InvokeRequest<C>): Promise<InvokeResponse<C>> {
    const id = nextId++;
    const frame = await new Promise<Frame>((resolve) => {
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, channel, request }));
    });
    if (!frame.ok) throw new Error(`${channel}: ${frame.error?.code ?? '?'}: ${frame.error?.message ?? '?'}`);
    return frame.response as InvokeResponse<C>;
  }

  function trainerEvents(runId: string): TrainerEvent[] {
    return events.filter((f) => f.event === 'training:event' && (f.payload as EventPayload<'training:event'>).runId === runId).map((f) => (f.payload as EventPayload<'training:event'>).event);
  }

  async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
    const start = Date.now();
    while (!predicate()) {
      if (Date.now() - start > timeoutMs) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'moco-core-'));
    await writeSampleDataset(join(root, 'images'), { perClass: 4, size: 32 });
    await backdateDirectories(join(root, 'images')); // old enough for its stored scan to be trusted (scan-manifest.ts)
    await writeFile(join(root, 'renderer-index.html'), '');
    core = new AppCore({ dataDirectory: join(root, 'data'), transport: 'websocket' });
    server = await startServer({ port: 0, core, rendererDirectory: root });
    ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`);
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      if (frame.event !== undefined) events.push(frame);
      else if (frame.id !== undefined) pending.get(frame.id)?.(frame);
    });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  });
  afterAll(async () => {
    ws.close();
    await core.shutdown(5000);
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('folder:choose on the sample set returns its classes, images and a suggestion; too few images give a problem', async () => {
    const summary = await call('folder:choose', { path: join(root, 'images') });
    expect(summary).not.toBeNull();
    const s = summary!;
    expect(s.imagesFound).toBe(40);
    expect(s.classes).toHaveLength(10);
    expect(s.images[0]).toEqual({ relativePath: expect.stringMatching(/\.png$/) as unknown, className: expect.any(String) as unknown });
    expect(s.suggestion?.backend).toBe('wasm');
    expect(s.suggestion?.settings.batchSize).toBeGreaterThan(1);
    expect(Object.keys(s.suggestion?.reasons ?? {})).toContain('batchSize');
    expect(s.problem).toBeNull();
    const lonely = join(root, 'lonely');
    await writeSampleDataset(lonely, { perClass: 1, size: 16 });
    await rm(join(lonely, 'circle'), { recursive: true });
    const few = await call('folder:choose', { path: join(lonely, 'square') });
    expect(few).toMatchObject({ imagesFound: 1, suggestion: null, problem: expect.stringMatching(/at least 2/) as unknown });
    // Issue 12 item 1: the check reads headers, so three text files named .jpg are not images, and
    // training:start refuses the folder without making a run.
    const textJpegs = join(root, 'text-jpegs');
    await writeSampleDataset(textJpegs, { perClass: 1, size: 16 });
    for (const name of ['a.jpg', 'b.jpg', 'c.jpg']) await writeFile(join(textJpegs, 'circle', name), 'text, not a JPEG');
    await rm(join(textJpegs, 'square'), { recursive: true });
    const { runs: runsBefore } = await call('runs:list', {});
    const fake = await call('folder:choose', { path: join(textJpegs, 'circle') });
    expect(fake).toMatchObject({ imagesFound: 1, suggestion: null, problem: expect.stringMatching(/1 usable image; MoCo needs at least 2/) as unknown });
    expect(fake!.skipped.map((s) => s.path)).toEqual(['a.jpg', 'b.jpg', 'c.jpg']);
    expect(fake!.skipped[0]!.reason).toMatch(/not a supported image \(unrecognised contents\)/);
    await expect(call('training:start', { folderId: fake!.folderId, settings: {} })).rejects.toThrow(/folder-cannot-train: The folder has 1 usable image/);
    expect((await call('runs:list', {})).runs).toHaveLength(runsBefore.length);
    const notFolder = await dispatchInvoke(core, 'folder:choose', { path: join(root, 'renderer-index.html') });
    expect(notFolder).toMatchObject({ ok: false, error: { code: 'not-a-folder', message: expect.stringContaining('renderer-index.html') as unknown } });
  });

  it('trains a tiny run: training:event metrics and done reach the client, then list, open, neighbours, map and exports work', async () => {
    const scanEventsBefore = events.length;
    const summary = (await call('folder:choose', { path: join(root, 'images') })) as FolderSummary;
    // Issue 13 item 8: the check's progress reaches the client, listing then headers, each with a final event.
    const scanning = events.slice(scanEventsBefore).filter((f) => f.event === 'folder:scanning').map((f) => f.payload as EventPayload<'folder:scanning'>);
    expect(scanning.filter((p) => p.done)).toEqual([
      { path: summary.path, phase: 'listing', files: 40, folders: 11, checked: 0, total: 0, done: true },
      { path: summary.path, phase: 'headers', files: 40, folders: 11, checked: 40, total: 40, done: true },
    ]);
    const { runId } = await call('training:start', { folderId: summary.folderId, settings: { imageSize: 16, widthMultiplier: 0.125, epochs: 2, batchSize: 8, backend: 'wasm', previewEvery: 3 } });
    await expect(call('training:start', { folderId: summary.folderId, settings: {} })).rejects.toThrow(/training-active/);
    await expect(call('runs:delete', { runId })).rejects.toThrow(/run-active/);
    await until(() => events.some((f) => f.event === 'runs:changed') && trainerEvents(runId).some((e) => e.type === 'done') && core.activeRunId === null, 80_000);
    const seen = trainerEvents(runId);
    expect(seen.filter((e) => e.type === 'metrics').length).toBe(10); // 40 images / 8 x 2 epochs
    expect(seen.find((e) => e.type === 'done')).toMatchObject({ reason: 'finished' });
    // One scan per run (issue 14): the trainer reused the scan of folder:choose instead of walking the folder again.
    expect(seen.filter((e) => e.type === 'scanning')).toEqual([{ type: 'scanning', files: 40, folders: 11, done: true, reused: true }]);

    const { runs } = await call('runs:list', {});
    const run = runs.find((r) => r.id === runId)!;
    expect(run).toMatchObject({ status: 'finished', hasEmbeddings: true, folder: summary.path, folderId: summary.folderId });
    expect(run.checkpoints.length).toBeGreaterThan(0);
    const opened = await call('runs:open', { runId });
    expect(opened.metrics).toHaveLength(10);
    expect(opened.epochs).toHaveLength(2);

    const { neighbours } = await call('neighbours:query', { runId, row: 0, k: 5 });
    expect(neighbours).toHaveLength(5);
    expect(neighbours.every((n) => n.row !== 0 && n.similarity <= 1.0001)).toBe(true);
    expect(neighbours[0]!.similarity).toBeGreaterThanOrEqual(neighbours[4]!.similarity);
    await expect(call('neighbours:query', { runId, k: 5 })).rejects.toThrow(/exactly one/);
    const outside = await call('neighbours:query', { runId, imagePath: join(root, 'lonely', 'square', 'square-000.png'), k: 3 });
    expect(outside.neighbours).toHaveLength(3);
    expect(outside.source).toEqual({ checkpoint: expect.stringMatching(/^step-\d{9}\.ckpt$/) as unknown, live: false });
    // The same image uploaded as bytes (the browser's way, issue 12 item 7) finds the same neighbours; junk is refused by name.
    const imageBytes = await readFile(join(root, 'lonely', 'square', 'square-000.png'));
    const uploaded = await call('neighbours:query', { runId, upload: { name: 'from-my-laptop.png', base64: imageBytes.toString('base64') }, k: 3 });
    expect(uploaded.neighbours).toEqual(outside.neighbours);
    await expect(call('neighbours:query', { runId, upload: { name: 'notes.png', base64: Buffer.from('plain text').toString('base64') }, k: 3 })).rejects.toThrow(/invalid-upload: notes\.png: not a supported image/);
    await expect(call('neighbours:query', { runId, row: 1, upload: { name: 'x.png', base64: imageBytes.toString('base64') }, k: 3 })).rejects.toThrow(/exactly one of row, imagePath or upload/);
    await expect(call('neighbours:query', { runId, upload: { name: 'big.png', base64: 'A'.repeat(900_000) }, k: 3 })).rejects.toThrow(/invalid-request: neighbours:query: upload\.base64: Too big: expected string to have <=819200 characters/);

    const map = await call('embeddings:map', { runId });
    expect(map.rows).toBe(40);
    expect(base64ToFloat32(map.points)).toHaveLength(80);
    expect(map.explainedVariance[0]).toBeGreaterThanOrEqual(map.explainedVariance[1]);
    const listed = await call('embeddings:items', { runId });
    expect(listed.items).toHaveLength(40);
    expect(listed.classes).toHaveLength(10);

    const csv = await call('runs:export', { runId, format: 'csv' });
    expect(csv.path).toMatch(/exports\/embeddings\.csv$/);
    expect((await readFile(csv.path, 'utf8')).split('\n').filter(Boolean)).toHaveLength(41);
    const npy = await call('runs:export', { runId, format: 'npy' });
    expect((await readFile(npy.path)).subarray(1, 6).toString()).toBe('NUMPY');
    // The TF.js graph model and ONNX model (their embeddings are tested in test/main/interop/model-export.spec.ts).
    const tfjs = await call('runs:export', { runId, format: 'tfjs' });
    expect(tfjs.path).toMatch(/exports\/tfjs-model\.zip$/);
    const zip = new ZipReader(await readFile(tfjs.path));
    expect(zip.names()).toEqual(['model.json', 'weights.bin']);
    const model = JSON.parse(Buffer.from(zip.read('model.json')).toString('utf8')) as { format: string; weightsManifest: { weights: { shape: number[]; dtype: string }[] }[] };
    expect(model.format).toBe('graph-model');
    const bytes = model.weightsManifest[0]!.weights.reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(zip.read('weights.bin').length).toBe(bytes);
    const onnx = await call('runs:export', { runId, format: 'onnx' });
    expect(onnx.path).toMatch(/exports\/encoder\.onnx$/);
    expect((await stat(onnx.path)).size).toBeGreaterThan(bytes / 2);
    // A browser user downloads: the token is required, the file comes as an attachment named after the run.
    const base = `http://127.0.0.1:${server.port}/exports/${runId}`;
    expect((await fetch(`${base}/onnx`)).status).toBe(401);
    expect((await fetch(`${base}/keras?token=${server.token}`)).status).toBe(400);
    expect((await fetch(`http://127.0.0.1:${server.port}/exports/no-such-run/csv?token=${server.token}`)).status).toBe(404);
    const download = await fetch(`${base}/csv?token=${server.token}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${runId}-embeddings.csv"; filename*=UTF-8''${encodeURIComponent(`${runId}-embeddings.csv`)}`);
    expect((await download.text()).split('\n').filter(Boolean)).toHaveLength(41);

    // Compare checkpoints: the first and the last checkpoint's embeddings, for the same query image (row 3).
    expect(run.checkpoints.length).toBeGreaterThanOrEqual(2); // one per epoch
    const first = run.checkpoints[0]!;
    const last = run.checkpoints[run.checkpoints.length - 1]!;
    const all = listed.items.length - 1;
    const atFirst = (await call('neighbours:query', { runId, row: 3, k: all, checkpoint: first })).neighbours;
    const atLast = (await call('neighbours:query', { runId, row: 3, k: all, checkpoint: last })).neighbours;
    const stored = (await call('neighbours:query', { runId, row: 3, k: all })).neighbours;
    for (const list of [atFirst, atLast]) {
      // every other image, never the query itself, with the run's paths: the same query image in each
      expect(list.map((n) => n.row).sort((a, b) => a - b)).toEqual(stored.map((n) => n.row).sort((a, b) => a - b));
      expect(list.some((n) => n.row === 3)).toBe(false);
      for (const n of list) expect(n.relativePath).toBe(listed.items[n.row]!.relativePath);
    }
    const similarityAt = (list: typeof stored): Map<number, number> => new Map(list.map((n) => [n.row, n.similarity]));
    const firstByRow = similarityAt(atFirst);
    expect(atLast.some((n) => Math.abs(n.similarity - firstByRow.get(n.row)!) > 1e-4)).toBe(true);
    const byCheckpoint = JSON.parse(await readFile(join(root, 'data', 'runs', runId, 'embeddings', 'by-checkpoint', first.replace(/\.ckpt$/, ''), 'embeddings.json'), 'utf8')) as { checkpoint: string; items: { relativePath: string }[] };
    expect(byCheckpoint.checkpoint).toBe(first);
    expect(byCheckpoint.items.map((i) => i.relativePath)).toEqual(listed.items.map((i) => i.relativePath));
    const outsideAtFirst = await call('neighbours:query', { runId, imagePath: join(root, 'lonely', 'square', 'square-000.png'), k: 3, checkpoint: first });
    expect(outsideAtFirst.neighbours).toHaveLength(3);
    await expect(call('neighbours:query', { runId, row: 3, k: 5, checkpoint: 'step-999999999.ckpt' })).rejects.toThrow(/unknown-checkpoint: Run .* has no checkpoint step-999999999\.ckpt/);
    await expect(call('neighbours:query', { runId, row: 3, k: 5, checkpoint: `../checkpoints/${first}` })).rejects.toThrow(/invalid-request: neighbours:query: checkpoint: a checkpoint file name/);

    await expect(call('training:pause', {})).rejects.toThrow(/not-training/);
    await call('runs:delete', { runId });
    expect((await call('runs:list', {})).runs.some((r) => r.id === runId)).toBe(false);
    expect((await stat(join(root, 'images', 'circle'))).isDirectory()).toBe(true); // images untouched
    await expect(call('runs:open', { runId: '..' })).rejects.toThrow(/unknown-run/);
  });

  it('pause, resume and stop reach the trainer; a stopped run resumes to the end with runs:resume', async () => {
    const summary = (await call('folder:choose', { path: join(root, 'images') })) as FolderSummary;
    const { runId } = await call('training:start', { folderId: summary.folderId, settings: { imageSize: 16, widthMultiplier: 0.125, epochs: 2, batchSize: 8, backend: 'wasm', previewEvery: 100 } });
    await until(() => trainerEvents(runId).some((e) => e.type === 'state' && e.state === 'training'), 30_000);
    await call('training:pause', {});
    await until(() => trainerEvents(runId).some((e) => e.type === 'state' && e.state === 'paused'), 30_000);
    await call('training:resume', {});
    await call('training:stop', {});
    await until(() => trainerEvents(runId).some((e) => e.type === 'done') && core.activeRunId === null, 30_000);
    expect(trainerEvents(runId).find((e) => e.type === 'done')).toMatchObject({ reason: 'stopped' });
    expect((await call('runs:list', {})).runs.find((r) => r.id === runId)?.status).toBe('stopped');
    const before = trainerEvents(runId).length;
    await call('runs:resume', { runId });
    await until(() => trainerEvents(runId).slice(before).some((e) => e.type === 'done') && core.activeRunId === null, 60_000);
    expect(trainerEvents(runId).slice(before).find((e) => e.type === 'done')).toMatchObject({ reason: 'finished' });
    expect((await call('runs:list', {})).runs.find((r) => r.id === runId)?.status).toBe('finished');
    await expect(call('runs:resume', { runId })).rejects.toThrow(/run-finished/);
  });
});
