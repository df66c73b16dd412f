/**
 * The `moco://` scheme: `moco://app/...` serves the built renderer, `moco://images/<folderId>/<path>`
 * serves images of folders the user chose, through the core's `resolveImage`, which refuses
 * anything outside those folders (path traversal, symlinks escaping, unknown folders).
 * `moco://thumbs/<folderId>/<path>?s=<size>` serves cached thumbnails of the same images (issue 14).
 */
import { Readable } from 'node:stream';
import { extname, join, normalize, sep } from 'node:path';
import { protocol } from 'electron';
import { openRegularFile } from '../core/safe-read.js';
import { parseThumbnailSize, type Thumbnail } from '../core/images/thumbnails.js';
import type { ThumbnailSize } from '../../shared/thumbnails.js';

export const SCHEME = 'moco';
export const APP_ORIGIN = `${SCHEME}://app`;

export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: moco:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp',
  '.gif': 'image/gif', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.avif': 'image/avif', '.json': 'application/json', '.woff2': 'font/woff2',
};

/** Must run before the app is ready. */
export function registerSchemePrivileges(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
}

/** Streamed from a non-blocking, fstat-checked regular file (issue 13: no whole-file reads, no FIFO hangs). */
async function respond(path: string): Promise<Response> {
  const file = await openRegularFile(path);
  const body = Readable.toWeb(file.handle.createReadStream({ autoClose: true })) as ReadableStream<Uint8Array>;
  return new Response(body, {
    headers: { 'Content-Type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff' },
  });
}

/** `moco://thumbs/<folderId>/<path>?s=<size>` (issue 14): the core's cached thumbnail, with its ETag; 304 on If-None-Match. */
async function respondThumbnail(request: Request, thumbnail: Thumbnail): Promise<Response> {
  const headers = { ETag: thumbnail.etag, 'Cache-Control': 'private, max-age=60', 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff' };
  if (request.headers.get('if-none-match') === thumbnail.etag) return new Response(null, { status: 304, headers });
  if (thumbnail.path === null) return new Response(new Uint8Array(thumbnail.bytes ?? Buffer.alloc(0)), { headers: { ...headers, 'Content-Type': 'image/jpeg' } });
  const response = await respond(thumbnail.path);
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

export function handleScheme(
  rendererDirectory: string,
  resolveImage: (folderId: string, relativePath: string) => Promise<string>,
  thumbnail?: (folderId: string, relativePath: string, size: ThumbnailSize) => Promise<Thumbnail>,
): void {
  protocol.handle(SCHEME, async (request) => {
    try {
      const url = new URL(request.url);
      const segments = url.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s)); // throws on a malformed %
      if (url.host === 'app') {
        const relative = normalize(segments.join(sep) || 'index.html');
        if (relative.startsWith('..') || relative.includes(`${sep}..${sep}`)) return new Response('Forbidden', { status: 403 });
        const path = join(rendererDirectory, relative);
        return await respond(path);
      }
      if (url.host === 'images' && segments.length >= 2) {
        const [folderId, ...rest] = segments;
        const path = await resolveImage(folderId!, rest.join('/'));
        return await respond(path);
      }
      if (url.host === 'thumbs' && thumbnail && segments.length >= 2) {
        const [folderId, ...rest] = segments;
        return await respondThumbnail(request, await thumbnail(folderId!, rest.join('/'), parseThumbnailSize(url.searchParams.get('s'))));
      }
      return new Response('Not found', { status: 404 });
    } catch {
      return new Response('Forbidden or not found', { status: 404 });
    }
  });
}
