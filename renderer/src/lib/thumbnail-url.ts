/**
 * The one place where grids build the URL of an image's thumbnail (issue 14): the server's
 * /thumbs route (moco://thumbs in the desktop app), made once from the file and cached with an
 * ETag, in place of the original file. Built from the API's image URL so that it works on either
 * transport and keeps the session token.
 */
import { getApi } from '../api/get-api';
import { THUMBNAIL_SIZES, thumbnailUrlOf, type ThumbnailSize } from '../../../shared/thumbnails';

/** `sizePx`: the cell's side in CSS pixels; the smallest stored size that covers it on a 2x display. */
export function thumbnailUrl(folderId: string, relativePath: string, sizePx: number): string {
  const wanted = sizePx * 2;
  const size: ThumbnailSize = THUMBNAIL_SIZES.find((s) => s >= wanted) ?? 256;
  return thumbnailUrlOf(getApi().imageUrl(folderId, relativePath), size);
}
