/**
 * Thumbnail URLs (issue 14): `/thumbs/<folderId>/<relativePath>?s=<size>` on the headless server
 * (token as for /images: the `token` query parameter or the session cookie), and
 * `moco://thumbs/<folderId>/<relativePath>?s=<size>` in the desktop app. Same folder ids and
 * "/"-separated relative paths as /images, same confinement. `s` is the longer side in pixels,
 * one of THUMBNAIL_SIZES (another value is rounded up to the next one; absent: 128). Answers carry
 * a strong ETag; `If-None-Match` with it gets a 304.
 */
export const THUMBNAIL_SIZES = [64, 128, 256] as const;
export type ThumbnailSize = (typeof THUMBNAIL_SIZES)[number];

/** The server path of a thumbnail (the browser sends the token cookie with it). */
export function thumbnailUrl(folderId: string, relativePath: string, size: ThumbnailSize = 128): string {
  const path = relativePath.split('/').map(encodeURIComponent).join('/');
  return `/thumbs/${encodeURIComponent(folderId)}/${path}?s=${size}`;
}

/**
 * The thumbnail of an image URL as `api.imageUrl` gives it, for either transport
 * (`/images/...?token=...` or `moco://images/...`): the renderer need not know which it runs on.
 */
export function thumbnailUrlOf(imageUrl: string, size: ThumbnailSize = 128): string {
  const converted = imageUrl.replace(/^(moco:\/\/|\/)images\//, '$1thumbs/');
  if (converted === imageUrl) throw new Error(`not an image URL of this app: ${imageUrl}`);
  return `${converted}${converted.includes('?') ? '&' : '?'}s=${size}`;
}
