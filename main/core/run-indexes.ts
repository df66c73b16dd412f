/**
 * The neighbour indexes the app core searches: a run's stored embeddings, one checkpoint's (made on
 * first use by an embed job, then kept on disk), and the run's standardised pixels. Cached in memory
 * by `runId`, `runId/checkpoint` or `runId/pixels`; a failed load is forgotten so it can be retried.
 * While a run trains and has no stored embeddings yet, its newest checkpoint's answer (issue 12 item 3).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreError } from './core-error.js';
import { MANIFEST_FILE, readEmbeddings, type StoredEmbeddings } from './embeddings/embedding-store.js';
import { NeighbourIndex } from './embeddings/neighbour-index.js';
import { pixelEmbeddingsDirectory, PIXELS_SOURCE } from './embeddings/pixel-directory.js';
import { checkpointNames, hasEmbeddings } from './run-exports.js';
import { runPaths } from './run-store.js';
import type { TrainerProcess } from './trainer-host.js';
import { runTrainerJob } from './trainer-jobs.js';
import type { TrainerCommand } from '../../shared/trainer-protocol.js';

export interface LoadedIndex {
  readonly embeddings: StoredEmbeddings;
  readonly index: NeighbourIndex;
}

/** Where the embeddings of one checkpoint of a run are kept: `<run>/embeddings/by-checkpoint/<step-…>/`. */
export function checkpointEmbeddingsDirectory(runDirectory: string, checkpoint: string): string {
  return join(runPaths(runDirectory).embeddings, 'by-checkpoint', checkpoint.replace(/\.ckpt$/, ''));
}

export interface RunIndexesOptions {
  /** The directory of a run (throws CoreError for an unknown one). */
  readonly runDirectory: (runId: string) => Promise<string>;
  /** Whether a trainer of ours is training `runId` now. */
  readonly isTraining: (runId: string) => boolean;
  readonly cacheDirectory: string;
  readonly spawn: () => TrainerProcess;
}

async function hasManifest(directory: string): Promise<boolean> {
  return stat(join(directory, MANIFEST_FILE)).then((s) => s.isFile(), () => false);
}

async function indexOf(directory: string): Promise<LoadedIndex> {
  const embeddings = await readEmbeddings(directory);
  return { embeddings, index: new NeighbourIndex(embeddings.matrix, embeddings.dim) };
}

export class RunIndexes {
  private readonly indexes = new Map<string, Promise<LoadedIndex>>();

  constructor(private readonly options: RunIndexesOptions) {}

  /**
   * The run's stored embeddings; while the run trains and has none yet, its newest checkpoint's,
   * cached under that checkpoint's name, so the next checkpoint gets its own.
   */
  async ofRun(runId: string): Promise<LoadedIndex> {
    const newest = await this.newestCheckpointWhileTraining(runId);
    return newest === null ? this.cached(runId, () => this.loadRun(runId)) : this.ofCheckpoint(runId, newest);
  }

  /** The index of one checkpoint's embeddings of a run (cached in memory and on disk, made on first use). */
  ofCheckpoint(runId: string, checkpoint: string): Promise<LoadedIndex> {
    return this.cached(`${runId}/${checkpoint}`, () => this.loadCheckpoint(runId, checkpoint));
  }

  /** The run's folder as standardised pixels at its training size (made on first use, then cached like a checkpoint's). */
  ofPixels(runId: string): Promise<LoadedIndex> {
    return this.cached(`${runId}/${PIXELS_SOURCE}`, async () => {
      const directory = await this.options.runDirectory(runId);
      const output = pixelEmbeddingsDirectory(directory);
      if (!(await hasManifest(output))) await this.embed({ type: 'embed', runDirectory: directory, cacheDirectory: this.options.cacheDirectory, pixels: true }, `The pixels of run ${runId} could not be embedded`);
      return indexOf(output);
    });
  }

  /** Which embeddings answer for a run now: for the labels in Neighbours (issue 12 item 3). */
  async source(runId: string, checkpoint: string | undefined, embeddings: StoredEmbeddings): Promise<{ checkpoint: string; live: boolean }> {
    if (checkpoint !== undefined) return { checkpoint, live: false };
    return { checkpoint: embeddings.manifest.checkpoint, live: (await this.newestCheckpointWhileTraining(runId).catch(() => null)) !== null };
  }

  /** Drops every cached index of `runId` (it trains again, was deleted, or its trainer ended). */
  forget(runId: string): void {
    for (const key of [...this.indexes.keys()]) if (key === runId || key.startsWith(`${runId}/`)) this.indexes.delete(key);
  }

  /** The newest checkpoint's name when `runId` is training and has no stored embeddings yet; else null. */
  private async newestCheckpointWhileTraining(runId: string): Promise<string | null> {
    if (!this.options.isTraining(runId)) return null;
    const directory = await this.options.runDirectory(runId);
    if (await hasEmbeddings(directory)) return null;
    const names = await checkpointNames(directory);
    if (names.length === 0) throw new CoreError('no-embeddings', `Run ${runId} is starting; it can be explored from its first checkpoint (the random start, in a few seconds)`);
    return names[names.length - 1]!;
  }

  private cached(key: string, load: () => Promise<LoadedIndex>): Promise<LoadedIndex> {
    let cached = this.indexes.get(key);
    if (!cached) {
      cached = load();
      this.indexes.set(key, cached);
      cached.catch(() => { if (this.indexes.get(key) === cached) this.indexes.delete(key); });
    }
    return cached;
  }

  private async embed(job: Extract<TrainerCommand, { type: 'embed' }>, failure: string): Promise<void> {
    await runTrainerJob(job, undefined, this.options.spawn).catch((error: unknown) => { throw new CoreError('no-embeddings', `${failure}: ${(error as Error).message}`); });
  }

  private async loadCheckpoint(runId: string, checkpoint: string): Promise<LoadedIndex> {
    const directory = await this.options.runDirectory(runId);
    const names = await checkpointNames(directory);
    if (!names.includes(checkpoint)) {
      throw new CoreError('unknown-checkpoint', `Run ${runId} has no checkpoint ${checkpoint}${names.length > 0 ? ` (it has ${names.join(', ')})` : ''}`);
    }
    const output = checkpointEmbeddingsDirectory(directory, checkpoint);
    if (!(await hasManifest(output))) {
      await this.embed({ type: 'embed', runDirectory: directory, cacheDirectory: this.options.cacheDirectory, checkpoint, outputDirectory: output }, `The embeddings of checkpoint ${checkpoint} of run ${runId} could not be made`);
    }
    return indexOf(output);
  }

  private async loadRun(runId: string): Promise<LoadedIndex> {
    const directory = await this.options.runDirectory(runId);
    // A stopped or crashed run: embed the folder with its newest checkpoint first.
    if (!(await hasEmbeddings(directory))) await this.embed({ type: 'embed', runDirectory: directory, cacheDirectory: this.options.cacheDirectory }, `Run ${runId} has no embeddings and they could not be made`);
    return indexOf(runPaths(directory).embeddings);
  }
}
