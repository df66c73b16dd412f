/**
 * The headless server: the built renderer as static files, the chosen folders' images at
 * /images/<folderId>/<relativePath>, cached thumbnails of them at /thumbs/<folderId>/<relativePath>?s=<size>
 * (issue 14: ETag / 304), run exports as downloads at
 * /exports/<runId>/<format>, and the contract over a WebSocket at /ws.
 *
 * Security: loopback by default; a random 32-byte token in the printed URL, needed by every
 * request except the static index and assets (query `token`, or the HttpOnly SameSite=Strict
 * cookie the index sets); tokens compared in constant time; WebSocket upgrades also need an
 * Origin equal to the server's own host, and a Host header naming this server (DNS rebinding);
 * every frame validated, with an error frame for anything malformed; frames capped at 1 MB.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientFrameSchema } from '../../shared/contract.js';
import type { AppCore } from '../core/app-core.js';
import { dispatchInvoke } from '../core/dispatch.js';
import { FileReadError, openRegularFile } from '../core/safe-read.js';
import { parseThumbnailSize, ThumbnailError } from '../core/images/thumbnails.js';
import { serveExport } from './export-route.js';

export const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: ; style-src 'self' 'unsafe-inline'; script-src 'self'";
export const TOKEN_COOKIE = 'moco_token';
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Preview events are skipped for a client with this much unsent data (a slow link must not grow memory without bound). */
const SLOW_CLIENT_BYTES = 8 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.webp': 'image/webp', '.gif': 'image/gif', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.avif': 'image/avif', '.ico': 'image/x-icon',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8', '.wasm': 'application/wasm',
};

export interface ServerOptions {
  readonly port: number;
  readonly host?: string;
  readonly core: AppCore;
  /** The built renderer (index.html and its assets). */
  readonly rendererDirectory: string;
  /** Fixed token (tests); default: 32 random bytes, hex. */
  readonly token?: string;
}

export interface RunningServer {
  readonly url: string;
  readonly token: string;
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time token comparison (hashing first hides the length too). */
export function tokensMatch(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  return timingSafeEqual(digest(given), digest(expected));
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Raw path (not normalised: `..` stays visible) and query of a request target. */
function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  return { path: q === -1 ? target : target.slice(0, q), query: new URLSearchParams(q === -1 ? '' : target.slice(q + 1)) };
}

/** Decoded path segments, or null when a segment is malformed or unsafe once decoded. */
function decodeSegments(path: string): string[] | null {
  const segments: string[] = [];
  for (const raw of path.split('/').slice(1)) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return null;
    }
    segments.push(s);
  }
  return segments;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(32).toString('hex');
  const { core } = options;
  const rendererRoot = await realpath(options.rendererDirectory).catch(() => options.rendererDirectory);
  let port = options.port;

  const allowedHosts = (): Set<string> => new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`]);

  const baseHeaders = (response: ServerResponse): void => {
    response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer'); // the token travels in the first URL
    response.setHeader('X-Frame-Options', 'DENY');
    response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  };

  const sendText = (response: ServerResponse, status: number, text: string): void => {
    response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end(text);
  };

  const authorised = (request: IncomingMessage, query: URLSearchParams): boolean =>
    tokensMatch(query.get('token'), token) || tokensMatch(cookieValue(request.headers.cookie, TOKEN_COOKIE), token);

  /**
   * Streamed from a descriptor opened without blocking and checked to be a regular file (issue 13:
   * whole-file reads took the RSS to 3.2 GB for two GETs, files over 2 GiB failed, and a FIFO
   * swapped in after the check would hang the read).
   */
  const serveFile = async (response: ServerResponse, path: string, extraHeaders: Record<string, string> = {}): Promise<void> => {
    let file;
    try {
      file = await openRegularFile(path);
    } catch (error) {
      sendText(response, 404, error instanceof FileReadError ? `Not served: ${error.reason}` : 'Not found');
      return;
    }
    response.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': String(file.stats.size), ...extraHeaders });
    const stream = file.handle.createReadStream({ start: 0, end: Math.max(0, file.stats.size - 1), autoClose: true });
    if (file.stats.size === 0) {
      stream.destroy();
      response.end();
      return;
    }
    stream.on('error', () => { response.destroy(); });
    response.on('close', () => { stream.destroy(); }); // a client that goes away stops the read
    stream.pipe(response);
  };

  const serveIndex = async (response: ServerResponse, query: URLSearchParams): Promise<void> => {
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (tokensMatch(query.get('token'), token)) headers['Set-Cookie'] = `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    await serveFile(response, join(rendererRoot, 'index.html'), headers);
  };

  const serveStatic = async (response: ServerResponse, segments: string[], query: URLSearchParams): Promise<void> => {
    if (segments.length === 0 || (segments.length === 1 && (segments[0] === '' || segments[0] === 'index.html'))) {
      await serveIndex(response, query);
      return;
    }
    if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.') || s.includes('\\') || s.includes('\0') || s.includes('/'))) {
      sendText(response, 404, 'Not found');
      return;
    }
    const candidate = join(rendererRoot, ...segments);
    const real = await realpath(candidate).catch(() => null);
    const info = real === null ? null : await stat(real).catch(() => null);
    if (real === null || !real.startsWith(rendererRoot + sep) || !info?.isFile()) {
      // client-side routes (no extension) get the app; missing assets get a 404
      if (extname(segments[segments.length - 1]!) === '') await serveIndex(response, query);
      else sendText(response, 404, 'Not found');
      return;
    }
    await serveFile(response, real, { 'Cache-Control': 'no-cache' });
  };

  const serveImage = async (response: ServerResponse, segments: string[]): Promise<void> => {
    const [, folderId, ...rest] = segments;
    if (!folderId || rest.length === 0) {
      sendText(response, 404, 'Not found');
      return;
    }
    let path: string;
    try {
      path = await core.resolveImage(folderId, rest.join('/'));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      sendText(response, code === 'not-found' ? 404 : 403, (error as Error).message);
      return;
    }
    await serveFile(response, path, { 'Cache-Control': 'private, max-age=60' });
  };

  /** /thumbs/<folderId>/<relativePath>?s=<size> (issue 14): confined as /images, cached, ETag / 304. */
  const serveThumbnail = async (request: IncomingMessage, response: ServerResponse, segments: string[], query: URLSearchParams): Promise<void> => {
    const [, folderId, ...rest] = segments;
    if (!folderId || rest.length === 0) {
      sendText(response, 404, 'Not found');
      return;
    }
    let thumbnail;
    try {
      thumbnail = await core.thumbnail(folderId, rest.join('/'), parseThumbnailSize(query.get('s')));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      sendText(response, error instanceof ThumbnailError ? error.status : code === 'not-found' ? 404 : 403, (error as Error).message);
      return;
    }
    const headers = { ETag: thumbnail.etag, 'Cache-Control': 'private, max-age=60' };
    if (request.headers['if-none-match'] === thumbnail.etag) {
      response.writeHead(304, headers);
      response.end();
      return;
    }
    if (thumbnail.path !== null) {
      await serveFile(response, thumbnail.path, headers);
      return;
    }
    const bytes = thumbnail.bytes ?? Buffer.alloc(0);
    response.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': String(bytes.length), ...headers });
    response.end(bytes);
  };

  const server = createServer((request, response) => {
    baseHeaders(response);
    void (async () => {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.setHeader('Allow', 'GET, HEAD');
        sendText(response, 405, 'Method not allowed');
        return;
      }
      if (!allowedHosts().has(request.headers.host ?? '')) {
        sendText(response, 421, 'Unknown host');
        return;
      }
      const { path, query } = splitTarget(request.url ?? '/');
      const segments = decodeSegments(path);
      if (segments === null || !path.startsWith('/')) {
        sendText(response, 400, 'Bad request path');
        return;
      }
      if (segments[0] === 'images') {
        if (!authorised(request, query)) {
          sendText(response, 401, 'Missing or wrong token: open the URL the server printed');
          return;
        }
        await serveImage(response, segments);
        return;
      }
      if (segments[0] === 'thumbs') {
        if (!authorised(request, query)) {
          sendText(response, 401, 'Missing or wrong token: open the URL the server printed');
          return;
        }
        await serveThumbnail(request, response, segments, query);
        return;
      }
      if (segments[0] === 'exports') {
        if (!authorised(request, query)) sendText(response, 401, 'Missing or wrong token: open the URL the server printed');
        else await serveExport(response, segments, core, sendText, serveFile);
        return;
      }
      if (segments[0] === 'ws') {
        sendText(response, 426, 'WebSocket upgrade required');
        return;
      }
      if (segments[0] === 'api') {
        sendText(response, authorised(request, query) ? 404 : 401, authorised(request, query) ? 'Not found' : 'Missing or wrong token');
        return;
      }
      await serveStatic(response, segments, query);
    })().catch((error: unknown) => {
      if (!response.headersSent) sendText(response, 500, `Internal error: ${error instanceof Error ? error.message : String(error)}`);
      else response.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  const clients = new Set<WebSocket>();

  server.on('upgrade', (request, socket, head) => {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    const { path, query } = splitTarget(request.url ?? '/');
    const origin = request.headers.origin;
    if (path !== '/ws') refuse(404, 'Not Found');
    else if (!allowedHosts().has(request.headers.host ?? '')) refuse(421, 'Misdirected Request');
    else if (!authorised(request, query)) refuse(401, 'Unauthorized');
    else if (origin !== undefined && origin !== `http://${request.headers.host ?? ''}`) refuse(403, 'Forbidden');
    else wss.handleUpgrade(request, socket, head, (ws) => { wss.emit('connection', ws, request); });
  });

  const send = (ws: WebSocket, frame: unknown): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };

  wss.on('connection', (ws: WebSocket) => {
    clients.add(ws);
    ws.on('close', () => { clients.delete(ws); });
    ws.on('error', () => { clients.delete(ws); });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        send(ws, { id: -1, ok: false, error: { code: 'bad-frame', message: 'Binary frames are not accepted; send JSON text' } });
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse((Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8'));
      } catch {
        send(ws, { id: -1, ok: false, error: { code: 'bad-frame', message: 'Frame is not valid JSON' } });
        return;
      }
      const frame = clientFrameSchema.safeParse(json);
      if (!frame.success) {
        const maybeId = typeof json === 'object' && json !== null ? (json as { id?: unknown }).id : undefined;
        const id = typeof maybeId === 'number' && Number.isInteger(maybeId) && maybeId >= 0 ? maybeId : -1;
        send(ws, { id, ok: false, error: { code: 'bad-frame', message: `Frame must be {id, channel, request}: ${frame.error.issues.map((i) => `${i.path.join('.') || '(frame)'}: ${i.message}`).join('; ')}` } });
        return;
      }
      const { id, channel, request } = frame.data;
      void dispatchInvoke(core, channel, request).then((result) => {
        send(ws, result.ok ? { id, ok: true, response: result.response } : { id, ok: false, error: result.error });
      });
    });
  });

  const unsubscribe = core.onEvent((event, payload) => {
    const isPreview = event === 'training:event' && (payload as { event?: { type?: string } }).event?.type === 'preview';
    const text = JSON.stringify({ event, payload });
    for (const ws of clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (isPreview && ws.bufferedAmount > SLOW_CLIENT_BYTES) continue;
      ws.send(text);
    }
  });

  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;

  return {
    url: `http://${urlHost}:${port}/?token=${token}`,
    token,
    port,
    host,
    close: async () => {
      unsubscribe();
      for (const ws of clients) ws.terminate();
      clients.clear();
      await new Promise<void>((r) => { wss.close(() => { r(); }); });
      await new Promise<void>((r) => {
        server.close(() => { r(); });
        server.closeAllConnections();
      });
    },
  };
}
