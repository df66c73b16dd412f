/**
 * Housekeeping of a run directory that keeps "nothing lost" true across crashes (issue 13):
 * - stale temporary files: a kill during an atomic write (main/core/atomic-file.ts) leaves its
 *   `.<name>.<12 hex>.tmp` behind (a checkpoint's worth of bytes each); they are removed when a
 *   run is opened or resumed, when no writer of ours can still be using them;
 * - embeddings of checkpoints that retention has since removed (`embeddings/by-checkpoint/<step>`,
 *   computed when the user explored that checkpoint during training): without their checkpoint
 *   nothing can select them, so they are removed at the same moments;
 * - the full list of skipped files (`skipped.json`): the terminal shows only the first 20.
 */
import { access, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.js';
import { runPaths } from './run-store.js';

/** Exactly the names writeChunksAtomic gives its temporary files. */
const TEMPORARY_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/** The file holding every skipped file of a run's folder, with its reason. */
export function skippedListPath(runDirectory: string): string {
  return join(runDirectory, 'skipped.json');
}

export async function writeSkippedList(runDirectory: string, skipped: readonly { path: string; reason: string }[]): Promise<string> {
  const path = skippedListPath(runDirectory);
  await writeFileAtomic(path, `${JSON.stringify({ count: skipped.length, skipped }, null, 2)}\n`);
  return path;
}

const skippedListSchema = z.object({ count: z.number().int(), skipped: z.array(z.object({ path: z.string(), reason: z.string() })) });

/** The run's skipped.json; an empty list when the run skipped nothing (the file is written only when it did). */
export async function readSkippedList(runDirectory: string): Promise<z.infer<typeof skippedListSchema>> {
  const path = skippedListPath(runDirectory);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { count: 0, skipped: [] };
    throw new Error(`Cannot read the dataset report ${path}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const parsed = skippedListSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} is not a valid dataset report; delete it and resume or rerun to rewrite it`);
  return parsed.data;
}

/**
 * Removes leftover temporary files of interrupted atomic writes in the run directory and the
 * folders it writes into. Call only while no trainer writes to this run. Returns what was removed.
 */
export async function removeStaleTemporaryFiles(runDirectory: string): Promise<string[]> {
  const paths = runPaths(runDirectory);
  const removed: string[] = [];
  const byCheckpoint = join(paths.embeddings, 'by-checkpoint');
  const checkpointFolders = await readdir(byCheckpoint).then((names) => names.map((n) => join(byCheckpoint, n)), () => []);
  for (const directory of [runDirectory, paths.checkpoints, paths.embeddings, byCheckpoint, ...checkpointFolders]) {
    let names: string[];
    try {
      names = await readdir(directory);
    } catch {
      continue; // not made yet
    }
    for (const name of names) {
      if (!TEMPORARY_FILE.test(name)) continue;
      const path = join(directory, name);
      await rm(path, { force: true }).then(() => { removed.push(path); }, () => undefined);
    }
  }
  return removed;
}

/** Exactly the folder names checkpointEmbeddingsDirectory gives (step-NNNNNNNNN). */
const CHECKPOINT_FOLDER = /^step-\d{9}$/;

/**
 * Removes `embeddings/by-checkpoint/<step>` folders whose checkpoint file is gone (retention
 * removed it). Call when opening or resuming a run, as removeStaleTemporaryFiles. Other names are
 * never touched. Returns the folders removed.
 */
export async function removeOrphanedCheckpointEmbeddings(runDirectory: string): Promise<string[]> {
  const paths = runPaths(runDirectory);
  const byCheckpoint = join(paths.embeddings, 'by-checkpoint');
  const names = await readdir(byCheckpoint).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!CHECKPOINT_FOLDER.test(name)) continue;
    const checkpointExists = await access(join(paths.checkpoints, `${name}.ckpt`)).then(() => true, () => false);
    if (checkpointExists) continue;
    const folder = join(byCheckpoint, name);
    await rm(folder, { recursive: true, force: true }).then(() => { removed.push(folder); }, () => undefined);
  }
  return removed;
}

/** Both of the above: what a kill or retention left behind in a run no trainer of ours is writing. */
export async function tidyRunDirectory(runDirectory: string): Promise<{ temporaryFiles: string[]; orphanedEmbeddings: string[] }> {
  const temporaryFiles = await removeStaleTemporaryFiles(runDirectory);
  const orphanedEmbeddings = await removeOrphanedCheckpointEmbeddings(runDirectory);
  return { temporaryFiles, orphanedEmbeddings };
}
