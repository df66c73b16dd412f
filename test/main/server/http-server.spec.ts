/**
 * The headless server over a real socket: token checks on HTTP and WebSocket, image access
 * limited to the chosen folder, static files with security headers, malformed frames answered
 * with error frames while the connection keeps serving.
 */
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import WebSocket from 'ws';
import type { FolderSummary } from '../../../shared/contract.js';
import { thumbnailUrl, thumbnailUrlOf } from '../../../shared/thumbnails.js';
import { AppCore } from '../../../main/core/app-core.js';
import { writeSampleDataset } from '../../../main/core/sample-dataset.js';
import { CONTENT_SECURITY_POLICY, startServer, type RunningServer } from '../../../main/server/http-server.js';

interface HttpAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** A raw GET: the path goes out exactly as written (no URL normalisation of `..`). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }); });
    });
    req.on('error', reject);
    req.end();
  });
}

type Frame = { id: number; ok: boolean; response?: unknown; error?: { code: string; message: string } };

class Client {
  private readonly waiting: ((frame: Frame) => void)[] = [];
  private readonly queued: Frame[] = [];
  private nextId = 1;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame & { event?: string };
      if (frame.event !== undefined) return;
      const waiter = this.waiting.shift();
      if (waiter) waiter(frame);
      else this.queued.push(frame);
    });
  }
  static open(url: string, headers: Record<string, string> = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => { resolve(new Client(ws)); });
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => { reject(new Error(`HTTP ${res.statusCode ?? 0}`)); });
    });
  }
  next(): Promise<Frame> {
    const frame = this.queued.shift();
    if (frame) return Promise.resolve(frame);
    return new Promise((resolve) => { this.waiting.push(resolve); });
  }
  sendRaw(text: string | Buffer): Promise<Frame> {
    this.ws.send(text);
    return this.next();
  }
  invoke(channel: string, request: unknown): Promise<Frame> {
    return this.sendRaw(JSON.stringify({ id: this.nextId++, channel, request }));
  }
}

describe('headless server', () => {
  let root: string;
  let server: RunningServer;
  let core: AppCore;
  let images: string;
  let summary: FolderSummary;
  let wsUrl: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'moco-server-'));
    images = join(root, 'images');
    await writeSampleDataset(images, { perClass: 2, size: 32 });
    await writeFile(join(root, 'secret.png'), 'not for the browser');
    await symlink(join(root, 'secret.png'), join(images, 'circle', 'escape.png'));
    const renderer = join(root, 'renderer');
    await mkdir(join(renderer, 'assets'), { recursive: true });
    await writeFile(join(renderer, 'index.html'), '<!doctype html><title>MoCo Studio</title>');
    await writeFile(join(renderer, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(renderer, 'assets', 'app.css'), 'body{}');
    core = new AppCore({ dataDirectory: join(root, 'data'), transport: 'websocket' });
    server = await startServer({ port: 0, host: '127.0.0.1', core, rendererDirectory: renderer });
    wsUrl = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
    const chosen = await core.invoke('folder:choose', { path: images });
    summary = chosen!;
  });
  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('prints a loopback URL with a 64-hex-digit token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('serves the index and assets with content types, CSP and nosniff; the index sets an HttpOnly SameSite=Strict cookie only for a valid token', async () => {
    const index = await get(server.port, `/?token=${server.token}`);
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(String(index.headers['set-cookie'])).toMatch(new RegExp(`^moco_token=${server.token}; HttpOnly; SameSite=Strict; Path=/`));
    const noToken = await get(server.port, '/');
    expect(noToken.status).toBe(200);
    expect(noToken.headers['set-cookie']).toBeUndefined();
    expect((await get(server.port, '/?token=wrong')).headers['set-cookie']).toBeUndefined();
    const js = await get(server.port, '/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get(server.port, '/assets/app.css')).headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('keeps static paths inside the renderer folder', async () => {
    for (const path of ['/../secret.png', '/assets/../../secret.png', '/%2e%2e/secret.png', '/assets/%2e%2e%2f%2e%2e%2fsecret.png', '/..%5csecret.png']) {
      const answer = await get(server.port, path);
      expect([400, 404], path).toContain(answer.status);
      expect(answer.body.toString()).not.toContain('not for the browser');
    }
    expect((await get(server.port, '/missing.js')).status).toBe(404);
  });

  it('refuses the image route without a valid token (401) and serves an image of the chosen folder with one (query or cookie)', async () => {
    const first = summary.images[0]!.relativePath;
    expect((await get(server.port, `/images/${summary.folderId}/${first}`)).status).toBe(401);
    expect((await get(server.port, `/images/${summary.folderId}/${first}?token=${'0'.repeat(64)}`)).status).toBe(401);
    expect((await get(server.port, `/images/${summary.folderId}/${first}`, { Cookie: 'moco_token=nope' })).status).toBe(401);
    const ok = await get(server.port, `/images/${summary.folderId}/${first}?token=${server.token}`);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('image/png');
    expect(ok.body.subarray(1, 4).toString()).toBe('PNG');
    const byCookie = await get(server.port, `/images/${summary.folderId}/${first}`, { Cookie: `other=1; moco_token=${server.token}` });
    expect(byCookie.status).toBe(200);
  });

  it('refuses every path outside the chosen folder: .., %2e%2e, absolute, symlink escaping, unknown folder id', async () => {
    const t = `token=${server.token}`;
    const refused = [
      `/images/${summary.folderId}/../secret.png?${t}`,
      `/images/${summary.folderId}/circle/../../secret.png?${t}`,
      `/images/${summary.folderId}/%2e%2e/secret.png?${t}`,
      `/images/${summary.folderId}/%2e%2e%2fsecret.png?${t}`,
      `/images/${summary.folderId}/${encodeURIComponent(join(root, 'secret.png'))}?${t}`,
      `/images/${summary.folderId}//${root.slice(1)}/secret.png?${t}`,
      `/images/${summary.folderId}/circle/escape.png?${t}`,
      `/images/${'f'.repeat(24)}/${summary.images[0]!.relativePath}?${t}`,
      `/images/${summary.folderId}/circle/missing.png?${t}`,
    ];
    for (const path of refused) {
      const answer = await get(server.port, path);
      expect([400, 403, 404], path).toContain(answer.status);
      expect(answer.body.toString(), path).not.toContain('not for the browser');
    }
    expect((await get(server.port, `/images/${summary.folderId}/circle/escape.png?${t}`)).status).toBe(403);
    await expect(core.resolveImage(summary.folderId, '../secret.png')).rejects.toThrow(/traversal/);
    await expect(core.resolveImage(summary.folderId, join(root, 'secret.png'))).rejects.toThrow(/relative path/);
    await expect(core.resolveImage(summary.folderId, 'circle/escape.png')).rejects.toThrow(/outside the chosen folder/);
    await expect(core.resolveImage('nope', 'circle/a.png')).rejects.toThrow(/Unknown folder id/);
  });

  it('serves cached thumbnails (issue 14): token required, JPEG within the size, ETag and 304, a new ETag when the file changes, the same confinement as /images', async () => {
    const t = `token=${server.token}`;
    const first = summary.images[0]!.relativePath;
    expect((await get(server.port, `/thumbs/${summary.folderId}/${first}?s=64`)).status).toBe(401);
    const made = await get(server.port, thumbnailUrlOf(`/images/${summary.folderId}/${first}?${t}`, 64));
    expect(made.status).toBe(200);
    expect(made.headers['content-type']).toBe('image/jpeg');
    const meta = await sharp(made.body).metadata();
    expect([meta.format, Math.max(meta.width, meta.height) <= 64]).toEqual(['jpeg', true]);
    const etag = String(made.headers.etag);
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await get(server.port, `/thumbs/${summary.folderId}/${first}?s=64&${t}`, { 'If-None-Match': etag });
    expect([again.status, again.body.length, again.headers.etag]).toEqual([304, 0, etag]);
    // made once: one cached file, served again with the same ETag; another size is another thumbnail
    expect((await get(server.port, `/thumbs/${summary.folderId}/${first}?s=64&${t}`)).headers.etag).toBe(etag);
    expect((await get(server.port, `/thumbs/${summary.folderId}/${first}?s=256&${t}`)).headers.etag).not.toBe(etag);
    expect((await readdir(join(root, 'data', 'cache', 'images', 'thumbs'))).filter((n) => n.endsWith('.jpg'))).toHaveLength(2);
    const later = new Date(Date.now() + 5000);
    await utimes(join(images, first), later, later);
    const changed = await get(server.port, `/thumbs/${summary.folderId}/${first}?s=64&${t}`, { 'If-None-Match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
    await writeFile(join(images, 'circle', 'junk.png'), 'not an image at all');
    expect((await get(server.port, `/thumbs/${summary.folderId}/circle/junk.png?${t}`)).status).toBe(415);
    for (const path of [`../secret.png`, `%2e%2e/secret.png`, `circle/escape.png`, `circle/missing.png`]) {
      const answer = await get(server.port, `/thumbs/${summary.folderId}/${path}?${t}`);
      expect([400, 403, 404], path).toContain(answer.status);
    }
    expect([403, 404]).toContain((await get(server.port, `/thumbs/${'f'.repeat(24)}/${first}?${t}`)).status);
    expect(thumbnailUrl(summary.folderId, 'a b/c.png', 128)).toBe(`/thumbs/${summary.folderId}/a%20b/c.png?s=128`);
    expect(thumbnailUrlOf('moco://images/x/a.png', 256)).toBe('moco://thumbs/x/a.png?s=256');
  });

  it('refuses WebSocket upgrades without a valid token (401), from a foreign Origin (403) or for a foreign Host', async () => {
    await expect(Client.open(`ws://127.0.0.1:${server.port}/ws`)).rejects.toThrow(/401/);
    await expect(Client.open(`ws://127.0.0.1:${server.port}/ws?token=${'a'.repeat(64)}`)).rejects.toThrow(/401/);
    await expect(Client.open(wsUrl, { Origin: 'http://evil.example' })).rejects.toThrow(/403/);
    await expect(Client.open(wsUrl, { Host: `evil.example:${server.port}` })).rejects.toThrow(/421/);
    const fine = await Client.open(wsUrl, { Origin: `http://127.0.0.1:${server.port}` });
    fine.ws.close();
    const byCookie = await Client.open(`ws://127.0.0.1:${server.port}/ws`, { Cookie: `moco_token=${server.token}` });
    byCookie.ws.close();
  });

  it('answers malformed frames with an error frame and keeps serving the same connection', async () => {
    const client = await Client.open(wsUrl);
    try {
      const notJson = await client.sendRaw('{not json');
      expect(notJson).toMatchObject({ id: -1, ok: false, error: { code: 'bad-frame' } });
      const wrongShape = await client.sendRaw(JSON.stringify({ hello: 'world' }));
      expect(wrongShape).toMatchObject({ id: -1, ok: false, error: { code: 'bad-frame' } });
      const wrongShapeWithId = await client.sendRaw(JSON.stringify({ id: 7, channel: 42 }));
      expect(wrongShapeWithId).toMatchObject({ id: 7, ok: false, error: { code: 'bad-frame' } });
      const binary = await client.sendRaw(Buffer.from([1, 2, 3]));
      expect(binary).toMatchObject({ id: -1, ok: false });
      const unknown = await client.invoke('fs:readFile', { path: '/etc/passwd' });
      expect(unknown).toMatchObject({ ok: false, error: { code: 'unknown-channel' } });
      const invalid = await client.invoke('folder:choose', { path: 42 });
      expect(invalid).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
      const extra = await client.invoke('app:info', { sneaky: true });
      expect(extra).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
      const missing = await client.invoke('folder:choose', { path: join(root, 'nope') });
      expect(missing).toMatchObject({ ok: false, error: { code: 'folder-not-found', message: expect.stringContaining(join(root, 'nope')) as unknown } });
      expect(JSON.stringify(missing)).not.toMatch(/\n\s+at /);
      const info = await client.invoke('app:info', {});
      expect(info).toMatchObject({ ok: true, response: { transport: 'websocket', canPickFolder: false, platform: process.platform } });
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      client.ws.close();
    }
    // and the server still takes new connections
    const again = await Client.open(wsUrl);
    expect(await again.invoke('app:info', {})).toMatchObject({ ok: true });
    again.ws.close();
  });

  it('closes a connection that sends a frame over 1 MB, and keeps serving others', async () => {
    const client = await Client.open(wsUrl);
    const closed = new Promise<number>((resolve) => { client.ws.once('close', (code) => { resolve(code); }); });
    client.ws.send('x'.repeat(1024 * 1024 + 10));
    expect(await closed).toBe(1009);
    const other = await Client.open(wsUrl);
    expect(await other.invoke('app:info', {})).toMatchObject({ ok: true });
    other.ws.close();
  });

  it('folder:choose and folder:complete over the socket (same opaque folder id for the same folder)', async () => {
    const client = await Client.open(wsUrl);
    try {
      const chosen = await client.invoke('folder:choose', { path: images });
      expect(chosen.ok).toBe(true);
      const response = chosen.response as FolderSummary;
      expect(response.folderId).toBe(summary.folderId);
      expect(response.folderId).not.toContain('/');
      expect(response.classes.length).toBe(10);
      const completions = await client.invoke('folder:complete', { partial: join(images, 'c') });
      expect(completions).toMatchObject({ ok: true });
      expect((completions.response as { completions: string[] }).completions).toEqual([join(images, 'checkerboard'), join(images, 'circle')]);
    } finally {
      client.ws.close();
    }
  });
});
