/**
 * One training run inside the trainer process: choose the backend, load the folder, build or
 * resume the model, train step by step (listening for pause/stop between steps), stream
 * metrics, progress and previews, checkpoint every epoch and on stop, refuse NaN/Inf losses.
 * Everything leaves through `emit`; nothing here knows which process transport carries it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import type { TrainerCommand, TrainerEvent, RunSummary } from '../../shared/trainer-protocol.js';
import type { BackendChoice } from '../ml/backend.js';
import { formatAdapter } from '../ml/webgpu-backend.js';
import { preferredBackendOrder } from './doctor.js';
import { RunMonitors } from './run-monitors.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { StepReport } from '../ml/trainer.js';
import { chooseBackendWithRenderer } from './renderer-compute.js';
import { coreCount, embedThroughHost, exportTrainingStateOf, openTrainingCompute, restoreTrainingState, workersFor, type TrainingCompute } from './compute-hosts.js';
import { readRunRecord, runPaths, truncateRunHistory, updateRunRecord, type RunRecord } from '../core/run-store.js';
import { defaultImageSize, resolveSettings, type ResolvedSettings } from '../../shared/training-settings.js';
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint.js';
import { initialiseFromRun } from './init-from-run.js';
import { tidyRunDirectory, writeSkippedList } from '../core/run-maintenance.js';
import { describeRunWriteError } from '../core/write-errors.js';
import { makePreview } from './previews.js';
import { describeLoad, loadTrainingImages, type TrainingImages } from './training-images.js';
import { storeSizeFor } from './training-config.js';
import { writeRunEmbeddingMatrix } from './run-embeddings.js';

type StartCommand = Extract<TrainerCommand, { type: 'start' }>;

export class TrainingRun {
  private paused = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private backend: BackendChoice | null = null;
  /** How the run ended, once it has. */
  finished = false;
  failed = false;

  constructor(private readonly emit: (event: TrainerEvent) => void) {}

  pause(): void {
    this.paused = true;
    this.emit({ type: 'state', state: 'paused' });
  }

  resume(): void {
    this.paused = false;
    this.emit({ type: 'state', state: 'training' });
    this.wake?.();
  }

  stop(): void {
    this.stopRequested = true;
    this.emit({ type: 'state', state: 'stopping' });
    this.wake?.();
  }

  async run(command: StartCommand): Promise<RunSummary> {
    const { runDirectory } = command;
    const paths = runPaths(runDirectory);
    const record = await readRunRecord(runDirectory);
    const log = (message: string): void => {
      this.emit({ type: 'log', message });
      void appendFile(paths.log, `${new Date().toISOString()} ${message}\n`).catch(() => undefined);
    };
    const warn = (message: string): void => {
      this.emit({ type: 'warning', message });
      void appendFile(paths.log, `${new Date().toISOString()} WARNING ${message}\n`).catch(() => undefined);
    };

    // No other trainer writes to this run now: what a kill left mid-write is garbage (issue 13).
    const tidied = await tidyRunDirectory(runDirectory);
    if (tidied.temporaryFiles.length > 0) log(`removed ${tidied.temporaryFiles.length} temporary file(s) left by an interrupted write`);
    if (tidied.orphanedEmbeddings.length > 0) log(`removed the embeddings of ${tidied.orphanedEmbeddings.length} checkpoint(s) no longer kept`);

    this.emit({ type: 'state', state: 'loading' });
    const backendWanted = (command.resume ? record.settings?.backend : undefined) ?? command.userSettings.backend ?? 'auto';
    const order = await preferredBackendOrder(command.backendReport);
    this.backend = await chooseBackendWithRenderer({ preferred: backendWanted, env: process.env, ...(order ? { order } : {}) });
    this.emit({ type: 'backend', name: this.backend.name, attempts: [...this.backend.attempts], adapter: this.backend.adapter });
    log(`backend ${this.backend.name}${this.backend.adapter ? ` on ${formatAdapter(this.backend.adapter)}` : ''}`);
    // In the record too: a reopened or reloaded run names its backend (issue 12 item 2).
    await updateRunRecord(runDirectory, { backend: { name: this.backend.name, adapter: this.backend.adapter ?? null } });

    // Stored copies depend on the image size, which may be chosen only after counting images:
    // decode at the largest size a default could pick (or the user's), crops come from there.
    const storeSize = storeSizeFor(record.settings?.imageSize ?? command.userSettings.imageSize ?? defaultImageSize(this.backend.name));
    const data = await loadTrainingImages(command.folder, command.cacheDirectory, storeSize, (done, total) => {
      this.emit({ type: 'loading', done, total });
    }, (scan) => {
      this.emit({ type: 'scanning', ...scan });
      if (scan.done) log(scan.reused ? `folder scan of the folder check reused (${scan.files} files, ${scan.folders} folders unchanged)` : `folder scanned: ${scan.files} files, ${scan.folders} folders`);
    });
    log(describeLoad(data));
    try {
      return await this.trainLoaded(command, record, data, log, warn);
    } finally {
      await data.source.close();
    }
  }

  /** Everything after the load; the caller closes the image store whatever happens here. */
  private async trainLoaded(command: StartCommand, record: RunRecord, data: TrainingImages, log: (m: string) => void, warn: (m: string) => void): Promise<RunSummary> {
    if (!this.backend) throw new Error('the backend is chosen before the images load');
    const { runDirectory } = command;
    this.emit({ type: 'dataset', found: data.found, used: data.count, fromCache: data.fromCache, skipped: [...data.skipped], classes: [...data.classes] });
    if (data.skipped.length > 0) {
      // The terminal shows 20 of them; the whole list stays with the run.
      const listed = await writeSkippedList(runDirectory, data.skipped).catch(() => null);
      warn(`${data.skipped.length} file(s) skipped${listed ? `; every one with its reason: ${listed}` : ''}`);
    }
    if (data.count === 0) throw new Error(`No usable image in ${command.folder} (${data.found} file(s) found, ${data.skipped.length} skipped)`);

    let settings: ResolvedSettings;
    if (command.resume && record.settings) {
      settings = record.settings; // a resumed run keeps the settings it started with
    } else {
      const resolution = resolveSettings(command.userSettings, data.count, this.backend.name, coreCount());
      settings = resolution.settings;
      this.emit({ type: 'settings', settings, reasons: { ...resolution.reasons }, adjustments: [...resolution.adjustments] });
      for (const a of resolution.adjustments) warn(`${a.field} changed from ${a.from} to ${a.to}: ${a.reason}`);
      for (const w of resolution.warnings) warn(w);
      await updateRunRecord(runDirectory, { settings });
    }
    if (data.count < settings.batchSize) {
      throw new Error(`The folder has ${data.count} usable images, fewer than one batch of ${settings.batchSize}`);
    }

    // Worker threads (issue 9): the command's count wins over the recorded one (checkpoints resume across counts).
    const workers = workersFor(settings, this.backend.name, command.userSettings.workers);
    const compute = await openTrainingCompute(settings, this.backend.name, workers.workers);
    log(`compute: ${compute.host.kind}, ${compute.host.replicas} worker${compute.host.replicas === 1 ? '' : 's'} (${workers.reason})`);
    try {
      if (command.resume) await this.restore(compute, runDirectory, log, warn);
      else if (command.initFrom) log(await initialiseFromRun(compute, command.initFrom));
      await updateRunRecord(runDirectory, { status: 'training', message: null });
      return await this.trainLoop(compute, settings, runDirectory, data, log, warn);
    } finally {
      await compute.dispose();
    }
  }

  private async restore(compute: TrainingCompute, runDirectory: string, log: (m: string) => void, warn: (m: string) => void): Promise<void> {
    const { trainer } = compute;
    const { checkpoint, rejected } = await loadLatestCheckpoint(runPaths(runDirectory).checkpoints);
    for (const r of rejected) warn(`${r.reason}; using an older checkpoint`);
    if (!checkpoint) {
      warn('No usable checkpoint to resume from; starting from scratch');
      await truncateRunHistory(runDirectory, 0, 0);
      return;
    }
    await restoreTrainingState(compute, checkpoint.state);
    await truncateRunHistory(runDirectory, trainer.globalStep, trainer.epoch);
    log(`resumed from ${checkpoint.path} (epoch ${trainer.epoch + 1}, step ${trainer.globalStep})`);
  }

  private async trainLoop(compute: TrainingCompute, settings: ResolvedSettings, runDirectory: string, data: TrainingImages, log: (m: string) => void, warn: (m: string) => void): Promise<RunSummary> {
    const { trainer, host } = compute;
    const paths = runPaths(runDirectory);
    const images = data.source;
    const stepsPerEpoch = trainer.stepsPerEpoch(images.count);
    const totalSteps = stepsPerEpoch * settings.epochs;
    const metricsFile: WriteStream = createWriteStream(paths.metrics, { flags: 'a' });
    // Without a listener a failed append (full disk) is an uncaught error (issue 13): stop instead, saying why.
    const writeFailure: { message: string | null } = { message: null };
    metricsFile.on('error', (error) => {
      if (writeFailure.message !== null) return;
      writeFailure.message = describeRunWriteError(paths.metrics, error, runDirectory);
      this.emit({ type: 'error', code: 'write-failed', message: writeFailure.message });
      this.stopRequested = true;
    });
    const checkpointEveryMs = settings.checkpointMinutes * 60_000;
    let lastCheckpointAt = performance.now();
    const startStep = trainer.globalStep;
    // Moved forward by every pause, so the ETA and images/s count training time only (issue 12 item 8).
    let started = performance.now();
    let lastLoss: number | null = null;
    // Assigned inside the checkpoint closure; an object so the type checker sees the writes.
    const saved: { path: string | null } = { path: null };
    let failed = false;

    /** Writes a checkpoint unless the weights went non-finite (then the last good one stays). */
    const checkpoint = async (): Promise<boolean> => {
      const state = await exportTrainingStateOf(compute);
      const broken = state.tensors.find((t) => !t.values.every(Number.isFinite));
      if (broken) {
        this.emit({ type: 'error', code: 'non-finite-weights', message: `The weights became NaN/Inf (${broken.name}) at step ${trainer.globalStep}; training stopped and the last good checkpoint is kept. Try a lower learning rate.` });
        return false;
      }
      try {
        saved.path = await saveCheckpoint(paths.checkpoints, settings, state);
      } catch (error) {
        const message = describeRunWriteError(paths.checkpoints, error, runDirectory);
        if (writeFailure.message === null) this.emit({ type: 'error', code: 'write-failed', message });
        writeFailure.message ??= message;
        return false;
      }
      lastCheckpointAt = performance.now();
      this.emit({ type: 'checkpoint', path: saved.path, globalStep: trainer.globalStep, epoch: trainer.epoch });
      return true;
    };

    const monitors = new RunMonitors(data, settings.imageSize, paths.epochs, this.emit, log);
    const recorded = (await readRunRecord(runDirectory)).baselines ?? null;
    const baselines = await monitors.baselines(host, trainer.globalStep === 0, recorded);
    await updateRunRecord(runDirectory, { stepsPerEpoch, baselines: baselines ?? recorded });
    // The random start as a checkpoint (issue 12 item 3): Neighbours and Map can explore and compare it from the first step on.
    if (trainer.globalStep === 0 && !(await checkpoint())) failed = true;
    this.emit({ type: 'state', state: 'training' });
    try {
      while (!failed && !trainer.finished && !this.stopRequested) {
        if (this.paused) {
          const pausedAt = performance.now();
          await new Promise<void>((resolve) => { this.wake = resolve; });
          this.wake = null;
          started += performance.now() - pausedAt;
          monitors.paused(performance.now() - pausedAt);
          continue;
        }
        const report = await trainer.trainStepOn(host, images);
        if (!Number.isFinite(report.metrics.loss)) {
          failed = true;
          this.emit({ type: 'error', code: 'non-finite-loss', message: `The loss became ${report.metrics.loss} at step ${report.globalStep}; training stopped and the last good checkpoint is kept. Try a lower learning rate.` });
          break;
        }
        lastLoss = report.metrics.loss;
        monitors.step(report.metrics.loss);
        metricsFile.write(`${JSON.stringify({ epoch: report.epoch, step: report.globalStep, time: Date.now(), ...report.metrics })}\n`);
        this.emit({ type: 'metrics', epoch: report.epoch, globalStep: report.globalStep, metrics: { ...report.metrics } });
        this.emitProgress(report, settings.epochs, totalSteps, startStep, started);
        if (report.globalStep % settings.previewEvery === 1 || settings.previewEvery === 1) {
          const preview = await makePreview(report, data.relativePaths, settings.imageSize);
          this.emit(preview);
          // The newest one stays with the run: a reopened run shows it (issue 12 item 2). Losing it is harmless.
          await writeFileAtomic(paths.preview, JSON.stringify(preview)).catch(() => undefined);
        }
        if (report.epochEnded) {
          await monitors.endEpoch(report, settings.epochs, host);
          if (!(await checkpoint())) {
            failed = true;
            break;
          }
          monitors.startEpoch();
        } else if (performance.now() - lastCheckpointAt >= checkpointEveryMs) {
          // Time-based too: an epoch of a large folder takes hours; a crash must lose minutes at most (issue 13).
          if (!(await checkpoint())) {
            failed = true;
            break;
          }
        }
        // Let pause/stop messages in between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (this.stopRequested && !failed && trainer.stepInEpoch > 0 && !(await checkpoint())) failed = true;
    } finally {
      await new Promise<void>((resolve) => {
        if (metricsFile.destroyed) resolve(); // failed (full disk): nothing left to flush
        else metricsFile.end(() => { resolve(); });
      });
    }
    if (writeFailure.message !== null) failed = true;

    const finished = trainer.finished && !failed;
    this.finished = finished;
    this.failed = failed;
    const stepsRun = trainer.globalStep - startStep;
    const seconds = (performance.now() - started) / 1000;
    // A resume with no step left (killed during the final embedding) keeps what the training measured (issue 13).
    const before = stepsRun === 0 ? (await readRunRecord(runDirectory)).summary as Partial<RunSummary> | null : null;
    const summary: RunSummary = {
      imagesUsed: images.count,
      imagesSkipped: data.skipped.length,
      epochs: trainer.epoch,
      steps: trainer.globalStep,
      imagesPerSecond: before?.imagesPerSecond ?? (seconds > 0 ? (stepsRun * settings.batchSize) / seconds : 0),
      finalLoss: lastLoss ?? before?.finalLoss ?? null,
      knnTop1: monitors.lastKnn ?? before?.knnTop1 ?? null,
      knnTop1AtStart: baselines?.knnTop1RandomInit ?? before?.knnTop1AtStart ?? null,
      knnTop1Pixels: baselines?.knnTop1Pixels ?? before?.knnTop1Pixels ?? null,
      backend: this.backend?.name ?? 'unknown',
      backendAdapter: this.backend?.adapter ?? null,
      runDirectory,
      checkpoint: saved.path ?? before?.checkpoint ?? null,
    };
    if (finished) {
      // The summary first (status still "training"): a kill during the embedding must not lose it.
      await updateRunRecord(runDirectory, { summary });
      log('embedding every image with the trained encoder');
      await writeRunEmbeddingMatrix(await embedThroughHost(host, data.source, settings.imageSize), data, paths.embeddings, summary.checkpoint ?? '');
    }
    const failure = writeFailure.message ?? 'NaN/Inf during training (loss or weights); the last good checkpoint is kept';
    await updateRunRecord(runDirectory, { status: failed ? 'failed' : finished ? 'finished' : 'stopped', summary, message: failed ? failure : null })
      .catch((error: unknown) => { if (writeFailure.message === null) throw error; }); // the disk that filled up may refuse run.json too
    if (failed) warn(writeFailure.message === null ? 'run failed: non-finite loss' : 'run failed: a file of the run could not be written');
    return summary;
  }

  private emitProgress(report: StepReport, epochs: number, totalSteps: number, startStep: number, started: number): void {
    const elapsed = (performance.now() - started) / 1000;
    const done = report.globalStep - startStep;
    const perStep = done > 0 ? elapsed / done : 0;
    this.emit({
      type: 'progress',
      epoch: report.epoch,
      epochs,
      step: report.step + 1,
      stepsPerEpoch: report.stepsPerEpoch,
      globalStep: report.globalStep,
      totalSteps,
      imagesPerSecond: perStep > 0 ? report.indices.length / perStep : 0,
      etaSeconds: perStep * Math.max(0, totalSteps - report.globalStep),
    });
  }
}
