/**
 * The one place where grids build the URL of an image's thumbnail (issue 14). The server side
 * (/thumbs/<folderId>/<relativePath>?s=<px>, made once from the decoded-image cache) is the
 * "pipeline" work; until it is on main this serves the original through the API's image URL.
 */
import { getApi } from '../api/get-api';

/** `sizePx`: the cell's side, for the /thumbs route's ?s=<px> (unused until it exists). */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- kept so that call sites need no change when /thumbs lands
export function thumbnailUrl(folderId: string, relativePath: string, _sizePx: number): string {
  return getApi().imageUrl(folderId, relativePath);
}
