/**
 * The app core behind every front door that has a UI: the desktop app (Electron IPC) and the
 * headless server (WebSocket) call the same handlers, one per channel of shared/contract.ts,
 * through main/core/dispatch.ts, and receive the same events. Training runs in a trainer process
 * exactly as in the CLI (main/cli/train-command.ts); one training at a time.
 */
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import {
  INVOKE_CHANNELS,
  type EventChannel, type EventPayload, type FolderSummary, type InvokeChannel, type InvokeRequest, type InvokeResponse, type RunListItem,
} from '../../shared/contract.js';
import type { TrainingSettings } from '../../shared/training-settings.js';
import { resolveSettings, type BackendKind } from '../../shared/training-settings.js';
import { readBackendReport } from './backend-report.js';
import { backendReportPath, cacheDirectory, runsDirectory } from './data-directory.js';
import { embeddingItems, embeddingSample, MapProjectionError, pcaMap } from './embeddings/map-projection.js';
import { PIXELS_SOURCE } from './embeddings/pixel-directory.js';
import { FolderRegistry } from './folder-registry.js';
import { importTorchRun } from '../interop/import-run.js';
import { SUPPORTED_EXTENSIONS } from './images/scan.js';
import { checkImageFolder } from './folder-check.js';
import { thumbnailOf, type Thumbnail } from './images/thumbnails.js';
import type { ThumbnailSize } from '../../shared/thumbnails.js';
import { writeExportFile, type ExportFormat } from './export-files.js';
import { checkpointNames, hasEmbeddings, readEpochRows, readMetricPoints } from './run-exports.js';
import { readSkippedList, tidyRunDirectory } from './run-maintenance.js';
import { LiveRunSnapshot } from './live-run.js';
import { TrainingEstimates } from './training-estimate.js';
import { RunIndexes } from './run-indexes.js';
import { CoreError } from './core-error.js';
import { readRunPreview } from './run-preview.js';
import { decodeUpload, withUploadedFile } from './uploaded-image.js';
import { createRun, listRuns, readRunRecord, updateRunRecord, type RunRecord } from './run-store.js';
import { writeSampleDataset } from './sample-dataset.js';
import { forkTrainer, TrainerHost, type TrainerProcess } from './trainer-host.js';
import { runTrainerJob } from './trainer-jobs.js';

export { CoreError } from './core-error.js';
export { checkpointEmbeddingsDirectory } from './run-indexes.js';

export interface AppCoreOptions {
  readonly dataDirectory: string;
  readonly transport: 'electron' | 'websocket';
  /** Native folder dialog (Electron); absent in the browser, where paths are typed. */
  readonly pickFolder?: () => Promise<string | null>;
  /** How trainer processes are started (default child_process.fork; Electron: utilityProcess). */
  readonly forkTrainer?: () => TrainerProcess;
  /** Reported by app:info (default: package.json's version). */
  readonly version?: string;
}

export type CoreEventListener = (channel: EventChannel, payload: EventPayload<EventChannel>) => void;

type Handlers = { [C in InvokeChannel]: (request: InvokeRequest<C>) => Promise<InvokeResponse<C>> };

interface ActiveTraining {
  readonly runId: string;
  readonly runDirectory: string;
  readonly host: TrainerHost;
  readonly live: LiveRunSnapshot;
}

const MAX_COMPLETIONS = 50;

/** 'tensorflow' when the native GPU binding is installed, else 'wasm' (what the trainer's auto choice would try first). */
export function guessBackend(): BackendKind {
  try {
    import.meta.resolve('@tensorflow/tfjs-node-gpu');
    return 'tensorflow';
  } catch {
    return 'wasm';
  }
}

function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/') || path.startsWith(`~${sep}`)) return join(homedir(), path.slice(2));
  return path;
}

/** A typed path: `~` expanded; relative paths are taken from the home folder (a server's working directory means nothing to a browser user). */
function absolutePath(typed: string): string {
  const expanded = expandHome(typed.trim());
  return isAbsolute(expanded) ? resolve(expanded) : resolve(homedir(), expanded);
}

export class AppCore {
  private readonly folders = new FolderRegistry();
  private readonly listeners = new Set<CoreEventListener>();
  private readonly spawn: () => TrainerProcess;
  private readonly estimates: TrainingEstimates;
  private readonly indexes: RunIndexes;
  /** Usable images of each checked folder (after the header check): training:start refuses what cannot train. */
  private readonly usableImages = new Map<string, number>();
  private active: ActiveTraining | null = null;
  private starting = false;
  private version: string | null;

  readonly handlers: Handlers = {
    'app:info': async () => ({
      version: await this.appVersion(),
      dataDirectory: this.options.dataDirectory,
      transport: this.options.transport,
      platform: process.platform,
      canPickFolder: this.options.pickFolder !== undefined,
    }),
    'folder:choose': async ({ path }) => {
      let folder: string | null;
      if (path !== undefined) folder = absolutePath(path);
      else if (this.options.pickFolder) folder = await this.options.pickFolder();
      else throw new CoreError('invalid-request', 'folder:choose: type or paste the path of a folder (there is no folder dialog in the browser)');
      return folder === null ? null : this.summarise(folder);
    },
    'folder:sample': async () => {
      const directory = join(this.options.dataDirectory, 'sample');
      await writeSampleDataset(directory);
      return this.summarise(directory);
    },
    'folder:complete': async ({ partial }) => ({ completions: await this.complete(partial) }),
    'training:start': async ({ folderId, settings }) => {
      const folder = this.folders.folderOf(folderId);
      if (folder === undefined) throw new CoreError('unknown-folder', 'Unknown folder id: choose the folder again');
      this.assertIdle();
      this.assertFolderCanTrain(folderId, settings);
      this.starting = true;
      try {
        const { directory, record } = await createRun({ runsRoot: runsDirectory(this.options.dataDirectory), folder, userSettings: settings });
        this.startTrainer(record.id, directory, folder, settings, false);
        return { runId: record.id };
      } finally {
        this.starting = false;
      }
    },
    'training:pause': () => Promise.resolve(this.command('pause')),
    'training:resume': () => Promise.resolve(this.command('resume')),
    'training:stop': () => Promise.resolve(this.command('stop')),
    'training:estimate': async (request) => {
      // Timing a step while a run trains would measure both badly.
      if (this.active || this.starting) throw new CoreError('training-active', 'The estimate times a training step: wait for the current run, or stop it');
      return this.estimates.estimate(request).catch((error: unknown) => { throw new CoreError('estimate-failed', `Could not time a training step with these settings: ${(error as Error).message}`); });
    },
    'training:status': () => Promise.resolve(this.active ? { runId: this.active.runId, events: this.active.live.events() } : { runId: null, events: [] }),
    'runs:list': async () => {
      const { runs } = await listRuns(runsDirectory(this.options.dataDirectory));
      return { runs: await Promise.all(runs.map(({ directory, record }) => this.listItem(directory, record))) };
    },
    'runs:open': async ({ runId }) => {
      const { directory, record } = await this.run(runId);
      // Leftovers of a kill during an atomic write, and embeddings of checkpoints retention removed,
      // unless a trainer of ours is writing this run now (issue 13).
      if (this.active?.runId !== runId && !this.starting) await tidyRunDirectory(directory);
      const [run, metrics, epochs, preview] = await Promise.all([this.listItem(directory, record), readMetricPoints(directory), readEpochRows(directory), readRunPreview(directory)]);
      return { run, metrics, epochs, preview, baselines: record.baselines ?? null, backend: record.backend ?? null, stepsPerEpoch: record.stepsPerEpoch ?? null };
    },
    'runs:resume': async ({ runId }) => {
      const { directory, record } = await this.run(runId);
      this.assertIdle();
      if (record.status === 'finished') throw new CoreError('run-finished', `Run ${runId} has already finished; start a new run to train longer`);
      if (record.status === 'failed' && !(await this.canResume(directory, 'failed'))) {
        throw new CoreError('run-cannot-resume', `Run ${runId} failed before its first checkpoint${record.message ? ` (${record.message})` : ''}; resuming would fail the same way. Fix the folder or settings and start a new run`);
      }
      // Busy from here: a second resume or a start during the await below must not spawn a second trainer.
      this.starting = true;
      try {
        const info = await stat(record.folder).catch(() => null);
        if (!info?.isDirectory()) throw new CoreError('folder-not-found', `The run's image folder is gone: ${record.folder}`);
        this.startTrainer(runId, directory, record.folder, record.userSettings, true);
      } finally {
        this.starting = false;
      }
      return { runId };
    },
    'runs:dataset': async ({ runId }) => readSkippedList((await this.run(runId)).directory),
    'runs:delete': async ({ runId }) => {
      const { directory } = await this.run(runId);
      if (this.active?.runId === runId || this.starting) throw new CoreError('run-active', `Run ${runId} is training; stop it before deleting it`);
      this.indexes.forget(runId);
      // The run's own directory only: the images live in the user's folder and are never touched.
      await rm(directory, { recursive: true, force: true });
      this.emit('runs:changed', {});
      return {};
    },
    'runs:export': async ({ runId, format }) => ({ path: await this.exportFile(runId, format) }),
    'runs:import': async ({ path, folderId }) => {
      const folder = this.folders.folderOf(folderId);
      if (folder === undefined) throw new CoreError('unknown-folder', 'Unknown folder id: choose the folder again');
      const result = await importTorchRun({ file: absolutePath(path), runsRoot: runsDirectory(this.options.dataDirectory), folder });
      this.emit('runs:changed', {});
      await runTrainerJob({ type: 'embed', runDirectory: result.runDirectory, cacheDirectory: cacheDirectory(this.options.dataDirectory) }, undefined, this.spawn);
      this.emit('runs:changed', {});
      return { runId: result.runId, architecture: `${result.architecture} ×${result.widthMultiplier}, ${result.head === 'mlp' ? 'MLP' : 'fc'} head`, layout: result.layout, format: result.format };
    },
    'neighbours:query': async ({ runId, row, imagePath, upload, k, checkpoint, pixels }) => {
      if ([row, imagePath, upload].filter((t) => t !== undefined).length !== 1) throw new CoreError('invalid-request', 'neighbours:query: give exactly one of row, imagePath or upload');
      if (pixels && checkpoint !== undefined) throw new CoreError('invalid-request', 'neighbours:query: pixels come from no checkpoint; give pixels or checkpoint, not both');
      const uploaded = upload === undefined ? null : (() => {
        try {
          return decodeUpload(upload);
        } catch (error) {
          throw new CoreError('invalid-upload', (error as Error).message);
        }
      })();
      const { directory } = await this.run(runId);
      const stored = await this.indexes.ofRun(runId);
      const { embeddings, index } = pixels ? await this.indexes.ofPixels(runId) : checkpoint === undefined ? stored : await this.indexes.ofCheckpoint(runId, checkpoint);
      let found;
      if (row !== undefined) {
        if (row >= stored.embeddings.rows) throw new CoreError('invalid-request', `row ${row} is out of range: the run has ${stored.embeddings.rows} embedded images`);
        // Rows are images in folder scan order; a checkpoint's embeddings made before the folder changed would mean other images.
        const expected = stored.embeddings.items[row]!.relativePath;
        if (embeddings.items[row]?.relativePath !== expected) {
          throw new CoreError('folder-changed', `The run's image folder changed since the embeddings of ${pixels ? 'its pixels' : checkpoint ?? 'the run'} were made: row ${row} is ${expected} in the run's embeddings but ${embeddings.items[row]?.relativePath ?? 'missing'} in the checkpoint's`);
        }
        found = embeddings.rows > 1 ? index.neighboursOfRow(row, Math.min(k, embeddings.rows - 1)) : [];
      } else {
        const file = uploaded === null ? absolutePath(imagePath!) : '';
        if (uploaded === null && !SUPPORTED_EXTENSIONS.has(file.slice(file.lastIndexOf('.')).toLowerCase())) throw new CoreError('invalid-request', `${file} is not a supported image type`);
        const info = uploaded === null ? await stat(file).catch(() => null) : null;
        if (uploaded === null && !info?.isFile()) throw new CoreError('file-not-found', `Image not found: ${file}`);
        // The encoder of the checkpoint whose embeddings are searched (during training a newer one may have landed since).
        const encoderCheckpoint = checkpoint ?? (/^step-\d{9}\.ckpt$/.test(embeddings.manifest.checkpoint) ? embeddings.manifest.checkpoint : undefined);
        const embed = (path: string) => runTrainerJob({ type: 'embed-files', runDirectory: directory, files: [path], ...(pixels ? { pixels } : encoderCheckpoint === undefined ? {} : { checkpoint: encoderCheckpoint }) }, undefined, this.spawn);
        const result = uploaded === null ? await embed(file) : await withUploadedFile(this.options.dataDirectory, uploaded, embed);
        const failure = result.failures[0];
        if (failure) throw new CoreError('image-unreadable', `${upload?.name ?? failure.path}: ${failure.reason}`);
        found = index.topK(Float32Array.from(result.vectors[0]!), Math.min(k, embeddings.rows));
      }
      return {
        neighbours: found.map((n) => ({ row: n.row, relativePath: embeddings.items[n.row]!.relativePath, className: embeddings.items[n.row]!.className, similarity: n.similarity })),
        source: pixels ? { checkpoint: PIXELS_SOURCE, live: false } : await this.indexes.source(runId, checkpoint, embeddings),
      };
    },
    'embeddings:items': async ({ runId }) => embeddingItems((await this.indexes.ofRun(runId)).embeddings),
    'embeddings:map': async ({ runId }) => {
      const { embeddings } = await this.indexes.ofRun(runId);
      try {
        return pcaMap(embeddings);
      } catch (error) {
        throw error instanceof MapProjectionError ? new CoreError(error.code, error.message) : error;
      }
    },
    'embeddings:sample': async ({ runId, maxRows }) => embeddingSample((await this.indexes.ofRun(runId)).embeddings, maxRows),
    'backend:doctor': async ({ seconds, quick }) => {
      // Benchmarks compete for the CPU with training and would measure both badly.
      if (this.active || this.starting) throw new CoreError('training-active', 'The backend doctor benchmarks the machine: stop the training first');
      if (!this.doctor) {
        const reportPath = backendReportPath(this.options.dataDirectory);
        this.doctor = runTrainerJob({ type: 'doctor', seconds: seconds ?? (quick === true ? 2 : 10), reportPath }, undefined, this.spawn)
          .then((result) => result.report)
          .finally(() => { this.doctor = null; });
      }
      return this.doctor;
    },
    'backend:report': async () => readBackendReport(backendReportPath(this.options.dataDirectory)),
  };

  /** The backend doctor's run in progress: a second request waits for the same report. */
  private doctor: Promise<InvokeResponse<'backend:doctor'>> | null = null;

  constructor(private readonly options: AppCoreOptions) {
    this.spawn = options.forkTrainer ?? forkTrainer;
    this.estimates = new TrainingEstimates(this.spawn, backendReportPath(options.dataDirectory), guessBackend);
    this.version = options.version ?? null;
    this.indexes = new RunIndexes({
      runDirectory: async (runId) => (await this.run(runId)).directory,
      isTraining: (runId) => this.active?.runId === runId,
      cacheDirectory: cacheDirectory(options.dataDirectory),
      spawn: this.spawn,
    });
    for (const channel of INVOKE_CHANNELS) if (!(channel in this.handlers)) throw new Error(`AppCore: no handler for ${channel}`);
  }

  get dataDirectory(): string {
    return this.options.dataDirectory;
  }

  /** The run now training (or resuming), if any. */
  get activeRunId(): string | null {
    return this.active?.runId ?? null;
  }

  invoke<C extends InvokeChannel>(channel: C, request: InvokeRequest<C>): Promise<InvokeResponse<C>> {
    const handler = this.handlers[channel] as (request: InvokeRequest<C>) => Promise<InvokeResponse<C>>;
    return handler(request);
  }

  /** Subscribes to every core event; returns the unsubscribe function. */
  onEvent(listener: CoreEventListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** See FolderRegistry.resolveImage: an image of a chosen folder or of a run's folder, or an ImageAccessError. */
  resolveImage(folderId: string, relativePath: string): Promise<string> {
    return this.folders.resolveImage(folderId, relativePath);
  }

  /** A cached thumbnail of an image resolveImage confines (issue 14); ImageAccessError or ThumbnailError. */
  async thumbnail(folderId: string, relativePath: string, size: ThumbnailSize): Promise<Thumbnail> {
    return thumbnailOf(await this.folders.resolveImage(folderId, relativePath), size, join(cacheDirectory(this.options.dataDirectory), 'thumbs'));
  }

  /** Writes an export of a run into `<run>/exports/` (main/core/export-files.ts) and returns its path; the server streams it as a download. */
  async exportFile(runId: string, format: ExportFormat): Promise<string> {
    const { directory } = await this.run(runId);
    return writeExportFile(directory, format, async () => (await this.indexes.ofRun(runId)).embeddings);
  }

  /** Stops an active training with a checkpoint (killing it after `graceMs`) and waits for it to exit. */
  async shutdown(graceMs = 60_000): Promise<void> {
    const active = this.active;
    if (!active) return;
    active.host.send({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      active.host.exited.then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => { r(true); }, graceMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) active.host.kill();
    await active.host.exited;
    // let the exit bookkeeping (run record, runs:changed) finish
    await new Promise((r) => setImmediate(r));
  }

  private emit<C extends EventChannel>(channel: C, payload: EventPayload<C>): void {
    for (const listener of this.listeners) {
      try {
        listener(channel, payload);
      } catch {
        // one broken subscriber must not stop the others or the trainer
      }
    }
  }

  private async appVersion(): Promise<string> {
    if (this.version === null) {
      try {
        const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
        const parsed = JSON.parse(text) as { version?: unknown };
        this.version = typeof parsed.version === 'string' ? parsed.version : '0.0.0';
      } catch {
        this.version = '0.0.0';
      }
    }
    return this.version;
  }

  /** No run is made for a folder that cannot train (issue 12 item 1): too few usable images, or a batch larger than them. */
  private assertFolderCanTrain(folderId: string, settings: TrainingSettings): void {
    const usable = this.usableImages.get(folderId);
    if (usable === undefined) return; // a run's folder, never checked here: the trainer's load decides
    try {
      resolveSettings(settings, usable, guessBackend(), availableParallelism());
    } catch (error) {
      throw new CoreError(usable < 2 ? 'folder-cannot-train' : 'invalid-settings', (error as Error).message);
    }
  }

  private assertIdle(): void {
    if (this.doctor) throw new CoreError('doctor-running', 'The backend doctor is benchmarking the backends; start training when it has finished (a few seconds)');
    if (this.active || this.starting) throw new CoreError('training-active', `A training is already running (run ${this.active?.runId ?? 'starting'}); stop it first`);
  }

  private command(type: 'pause' | 'resume' | 'stop'): Record<string, never> {
    if (!this.active) throw new CoreError('not-training', `Nothing to ${type}: no training is running`);
    this.active.host.send({ type });
    return {};
  }

  private startTrainer(runId: string, runDirectory: string, folder: string, userSettings: TrainingSettings, resume: boolean): void {
    const live = new LiveRunSnapshot(runId);
    const host = new TrainerHost(this.spawn(), (event) => {
      live.record(event);
      this.emit('training:event', { runId, event });
      // The run list shows the new status at once (issue 12 item 8: it said "created" until Refresh),
      // and a new checkpoint is a new state to explore (issue 12 item 3): the list carries the checkpoint names.
      if ((event.type === 'state' && event.state === 'training') || event.type === 'checkpoint') this.emit('runs:changed', {});
    });
    const active: ActiveTraining = { runId, runDirectory, host, live };
    this.active = active;
    this.indexes.forget(runId);
    host.send({ type: 'start', folder, runDirectory, cacheDirectory: cacheDirectory(this.options.dataDirectory), userSettings, resume, backendReport: backendReportPath(this.options.dataDirectory) });
    this.emit('runs:changed', {});
    void host.exited.then(async (exit) => {
      if (exit.crashed) {
        // The host already sent the crash as an error event; the record says so too, and runs:resume continues it.
        await updateRunRecord(runDirectory, { status: 'crashed', message: 'the trainer process ended unexpectedly' }).catch(() => undefined);
      }
      this.indexes.forget(runId);
      if (this.active === active) this.active = null;
      this.emit('runs:changed', {});
    });
  }

  /** The run directory of `runId` (a name under the runs folder, never a path) and its record. */
  private async run(runId: string): Promise<{ directory: string; record: RunRecord }> {
    if (runId === '.' || runId === '..' || runId.includes('/') || runId.includes('\\') || runId.includes('\0')) throw new CoreError('unknown-run', `Unknown run "${runId}"`);
    const directory = join(runsDirectory(this.options.dataDirectory), runId);
    try {
      return { directory, record: await readRunRecord(directory) };
    } catch (error) {
      const exists = await stat(directory).then(() => true, () => false);
      throw new CoreError(exists ? 'run-unreadable' : 'unknown-run', exists ? (error as Error).message : `Unknown run "${runId}"`);
    }
  }

  private async listItem(directory: string, record: RunRecord): Promise<RunListItem> {
    const { folderId } = await this.folders.register(record.folder);
    // A run still marked "training" that no trainer of ours is running was interrupted (crash, app killed).
    const status = this.active?.runId === record.id ? 'training' : record.status === 'training' ? 'crashed' : record.status;
    return {
      id: record.id, folder: record.folder, folderId, createdAt: record.createdAt, status, settings: record.settings, summary: record.summary,
      hasEmbeddings: await hasEmbeddings(directory), checkpoints: await checkpointNames(directory),
      message: status === 'failed' || status === 'crashed' ? record.message : null,
      canResume: await this.canResume(directory, status),
    };
  }

  /**
   * Stopped and crashed runs continue from their newest checkpoint (or from the start). A failed run
   * without a checkpoint failed before training (its folder or settings): a resume would fail the
   * same way, so none is offered (issue 12 item 1).
   */
  private async canResume(directory: string, status: RunListItem['status']): Promise<boolean> {
    if (status === 'stopped' || status === 'crashed') return true;
    return status === 'failed' && (await checkpointNames(directory)).length > 0;
  }

  private async summarise(folder: string): Promise<FolderSummary> {
    const info = await stat(folder).catch(() => null);
    if (!info) throw new CoreError('folder-not-found', `Folder not found: ${folder}`);
    if (!info.isDirectory()) throw new CoreError('not-a-folder', `Not a folder: ${folder}`);
    const { folderId, path } = await this.folders.register(folder);
    // The real path, as training:start will give the trainer: its scan then reuses this one (issue 14).
    const scan = await checkImageFolder(path, {
      cacheDirectory: cacheDirectory(this.options.dataDirectory),
      onProgress: (progress) => { this.emit('folder:scanning', { path, ...progress }); },
    });
    this.usableImages.set(folderId, scan.images.length);
    let suggestion: FolderSummary['suggestion'] = null;
    let problem: string | null = null;
    const backend = guessBackend();
    try {
      const resolution = resolveSettings({}, scan.images.length, backend, availableParallelism());
      const reasons: Record<string, string> = {};
      for (const [field, reason] of Object.entries(resolution.reasons)) if (typeof reason === 'string') reasons[field] = reason;
      suggestion = { backend, settings: resolution.settings, reasons };
    } catch (error) {
      problem = (error as Error).message;
    }
    return {
      path, folderId, imagesFound: scan.images.length,
      skipped: scan.skipped.map((s) => ({ path: s.relativePath, reason: s.reason })),
      classes: scan.classes,
      images: scan.images.map((i) => ({ relativePath: i.relativePath, className: i.className })),
      suggestion, problem,
    };
  }

  private async complete(partial: string): Promise<string[]> {
    const typed = partial.trim() === '' ? '~/' : partial;
    const expanded = absolutePath(typed);
    const endsWithSeparator = typed.endsWith('/') || typed.endsWith(sep);
    const directory = endsWithSeparator ? expanded : dirname(expanded);
    const prefix = endsWithSeparator ? '' : basename(expanded);
    const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
    const completions: string[] = [];
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (completions.length >= MAX_COMPLETIONS) break;
      if (entry.name.startsWith('.') || !entry.name.startsWith(prefix)) continue;
      const path = join(directory, entry.name);
      const isDirectory = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).then((s) => s.isDirectory(), () => false)));
      if (isDirectory) completions.push(path);
    }
    return completions;
  }
}
