/**
 * The server and the contract against what issue 13 found: images read whole into memory (two
 * GETs took the RSS to 3.2 GB; over 2 GiB gave a 500), and inherited names as channels answering
 * "internal". A real server on a real socket, real (sparse) files.
 */
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppCore } from '../../../main/core/app-core.js';
import { dispatchInvoke } from '../../../main/core/dispatch.js';
import { startServer, type RunningServer } from '../../../main/server/http-server.js';

const BIG = 2.5 * 1024 ** 3;

/** Status, length header and the first `take` bytes of a GET; then the connection is dropped. */
function headOfGet(port: number, path: string, take: number): Promise<{ status: number; length: string | undefined; received: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= take) {
          res.destroy();
          resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], received });
        }
      });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], received }); });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('hostile requests (issue 13)', () => {
  let root: string;
  let core: AppCore;
  let server: RunningServer;
  let folderId: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'moco-hostile-server-'));
    const images = join(root, 'images');
    await mkdir(join(root, 'renderer'), { recursive: true });
    await mkdir(images);
    await writeFile(join(root, 'renderer', 'index.html'), '<!doctype html>');
    const head = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer();
    await writeFile(join(images, 'small.png'), head);
    const big = await open(join(images, 'big.png'), 'w'); // sparse: no disk space used
    await big.write(head, 0, head.length, 0);
    await big.truncate(BIG);
    await big.close();
    core = new AppCore({ dataDirectory: join(root, 'data'), transport: 'websocket' });
    server = await startServer({ port: 0, host: '127.0.0.1', core, rendererDirectory: join(root, 'renderer'), token: 't'.repeat(64) });
    folderId = (await core.invoke('folder:choose', { path: images }))!.folderId;
  });
  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('streams a 2.5 GiB image to two clients at once without holding it in memory', async () => {
    const rssBefore = process.memoryUsage().rss;
    const path = `/images/${folderId}/big.png?token=${server.token}`;
    const answers = await Promise.all([headOfGet(server.port, path, 8 << 20), headOfGet(server.port, path, 8 << 20)]);
    const grown = (process.memoryUsage().rss - rssBefore) / 1024 ** 2;
    console.log(`two GETs of a 2.5 GiB file: RSS grew ${grown.toFixed(0)} MB`);
    for (const answer of answers) {
      expect(answer.status).toBe(200); // main: 500 (files over 2 GiB cannot be read whole)
      expect(answer.length).toBe(String(BIG));
      expect(answer.received).toBeGreaterThanOrEqual(8 << 20);
    }
    expect(grown).toBeLessThan(300);
    const small = await headOfGet(server.port, `/images/${folderId}/small.png?token=${server.token}`, 1 << 30);
    expect(small.status).toBe(200);
  });

  it('answers inherited names as channels with unknown-channel, not internal', async () => {
    for (const channel of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const result = await dispatchInvoke(core, channel, {});
      expect(result).toMatchObject({ ok: false, error: { code: 'unknown-channel', message: `Unknown channel "${channel}"` } });
    }
  });
});
