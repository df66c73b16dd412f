/**
 * Test helper: sets the mtime of `root` and every directory below it an hour back, as a folder
 * that was not touched just before the scan. Freshly written folders are "racy" for the stored
 * scan (scan-manifest.ts: a change within 2 s of the scan may share its timestamp tick) and are
 * always scanned again, so tests of reuse must age them first.
 */
import { readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';

export async function backdateDirectories(root: string, secondsAgo = 3600): Promise<void> {
  const when = new Date(Date.now() - secondsAgo * 1000);
  const visit = async (directory: string): Promise<void> => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (entry.isDirectory()) await visit(join(directory, entry.name));
    }
    await utimes(directory, when, when);
  };
  await visit(root);
}
