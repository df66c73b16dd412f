/**
 * One training run inside the trainer process: choose the backend, load the folder, build or
 * resume the model, train step by step (listening for pause/stop between steps), stream
 * metrics, progress and previews, checkpoint every epoch and on stop, refuse NaN/Inf losses.
 * Everything leaves through `emit`; nothing here knows which process transport carries it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainerCommand, TrainerEvent, RunSummary } from '../../shared/trainer-protocol.js';
import type { RgbImage } from '../ml/augment.js';
import { chooseBackend, type BackendChoice } from '../ml/backend.js';
import { formatAdapter } from '../ml/webgpu-backend.js';
import { preferredBackendOrder } from './doctor.js';
import { embedImages } from '../ml/batches.js';
import { weightedKnn } from '../ml/knn.js';
import { exportTrainingState, importTrainingState } from '../ml/training-state.js';
import { MocoTrainer, type StepReport } from '../ml/trainer.js';
import { readRunRecord, runPaths, truncateRunHistory, updateRunRecord } from '../core/run-store.js';
import { defaultImageSize, resolveSettings, type ResolvedSettings } from '../../shared/training-settings.js';
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint.js';
import { makePreview } from './previews.js';
import { loadTrainingImages, type TrainingImages } from './training-images.js';
import { storeSizeFor, toTrainingConfig } from './training-config.js';
import { writeRunEmbeddings } from './run-embeddings.js';

type StartCommand = Extract<TrainerCommand, { type: 'start' }>;

/** Images scored by the per-epoch kNN monitor at most (a fixed, evenly spread subset beyond that). */
const KNN_MONITOR_LIMIT = 2000;

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

    this.emit({ type: 'state', state: 'loading' });
    const backendWanted = (command.resume ? record.settings?.backend : undefined) ?? command.userSettings.backend ?? 'auto';
    const order = await preferredBackendOrder(command.backendReport);
    this.backend = await chooseBackend({ preferred: backendWanted, env: process.env, ...(order ? { order } : {}) });
    this.emit({ type: 'backend', name: this.backend.name, attempts: [...this.backend.attempts], adapter: this.backend.adapter });
    log(`backend ${this.backend.name}${this.backend.adapter ? ` on ${formatAdapter(this.backend.adapter)}` : ''}`);

    // Stored copies depend on the image size, which may be chosen only after counting images:
    // decode at the largest size a default could pick (or the user's), crops come from there.
    const storeSize = storeSizeFor(record.settings?.imageSize ?? command.userSettings.imageSize ?? defaultImageSize(this.backend.name));
    const data = await loadTrainingImages(command.folder, command.cacheDirectory, storeSize, (done, total) => {
      this.emit({ type: 'loading', done, total });
    });
    this.emit({ type: 'dataset', found: data.found, used: data.images.length, fromCache: data.fromCache, skipped: [...data.skipped], classes: [...data.classes] });
    if (data.skipped.length > 0) warn(`${data.skipped.length} file(s) skipped; see the dataset report`);
    if (data.images.length === 0) throw new Error(`No usable image in ${command.folder} (${data.found} file(s) found, ${data.skipped.length} skipped)`);

    let settings: ResolvedSettings;
    if (command.resume && record.settings) {
      settings = record.settings; // a resumed run keeps the settings it started with
    } else {
      const resolution = resolveSettings(command.userSettings, data.images.length, this.backend.name);
      settings = resolution.settings;
      this.emit({ type: 'settings', settings, reasons: { ...resolution.reasons }, adjustments: [...resolution.adjustments] });
      for (const a of resolution.adjustments) warn(`${a.field} changed from ${a.from} to ${a.to}: ${a.reason}`);
      for (const w of resolution.warnings) warn(w);
      await updateRunRecord(runDirectory, { settings });
    }
    if (data.images.length < settings.batchSize) {
      throw new Error(`The folder has ${data.images.length} usable images, fewer than one batch of ${settings.batchSize}`);
    }

    const trainer = new MocoTrainer(toTrainingConfig(settings));
    try {
      if (command.resume) await this.restore(trainer, runDirectory, log, warn);
      await updateRunRecord(runDirectory, { status: 'training', message: null });
      return await this.trainLoop(trainer, settings, runDirectory, data, log, warn);
    } finally {
      trainer.dispose();
    }
  }

  private async restore(trainer: MocoTrainer, runDirectory: string, log: (m: string) => void, warn: (m: string) => void): Promise<void> {
    const { checkpoint, rejected } = await loadLatestCheckpoint(runPaths(runDirectory).checkpoints);
    for (const r of rejected) warn(`${r.reason}; using an older checkpoint`);
    if (!checkpoint) {
      warn('No usable checkpoint to resume from; starting from scratch');
      await truncateRunHistory(runDirectory, 0, 0);
      return;
    }
    importTrainingState(trainer, checkpoint.state);
    await truncateRunHistory(runDirectory, trainer.globalStep, trainer.epoch);
    log(`resumed from ${checkpoint.path} (epoch ${trainer.epoch + 1}, step ${trainer.globalStep})`);
  }

  private async trainLoop(trainer: MocoTrainer, settings: ResolvedSettings, runDirectory: string, data: TrainingImages, log: (m: string) => void, warn: (m: string) => void): Promise<RunSummary> {
    const paths = runPaths(runDirectory);
    const images = data.images;
    const stepsPerEpoch = trainer.stepsPerEpoch(images.length);
    const totalSteps = stepsPerEpoch * settings.epochs;
    const metricsFile: WriteStream = createWriteStream(paths.metrics, { flags: 'a' });
    const startStep = trainer.globalStep;
    const started = performance.now();
    let lastLoss: number | null = null;
    let lastKnn: number | null = null;
    // Assigned inside the checkpoint closure; an object so the type checker sees the writes.
    const saved: { path: string | null } = { path: null };
    let epochStarted = performance.now();
    let epochLossSum = 0;
    let epochSteps = 0;
    let failed = false;

    /** Writes a checkpoint unless the weights went non-finite (then the last good one stays). */
    const checkpoint = async (): Promise<boolean> => {
      const state = await exportTrainingState(trainer);
      const broken = state.tensors.find((t) => !t.values.every(Number.isFinite));
      if (broken) {
        this.emit({ type: 'error', code: 'non-finite-weights', message: `The weights became NaN/Inf (${broken.name}) at step ${trainer.globalStep}; training stopped and the last good checkpoint is kept. Try a lower learning rate.` });
        return false;
      }
      saved.path = await saveCheckpoint(paths.checkpoints, settings, state);
      this.emit({ type: 'checkpoint', path: saved.path, globalStep: trainer.globalStep, epoch: trainer.epoch });
      return true;
    };

    let knnAtStart: number | null = null;
    if (data.classes.length >= 2 && trainer.globalStep === 0) {
      knnAtStart = (await this.knnMonitor(trainer, data, settings.imageSize)).top1;
      log(`kNN top-1 at random initialisation: ${knnAtStart.toFixed(3)}`);
    }
    this.emit({ type: 'state', state: 'training' });
    try {
      while (!trainer.finished && !this.stopRequested) {
        if (this.paused) {
          await new Promise<void>((resolve) => { this.wake = resolve; });
          this.wake = null;
          continue;
        }
        const report = await trainer.trainStep(images);
        if (!Number.isFinite(report.metrics.loss)) {
          failed = true;
          this.emit({ type: 'error', code: 'non-finite-loss', message: `The loss became ${report.metrics.loss} at step ${report.globalStep}; training stopped and the last good checkpoint is kept. Try a lower learning rate.` });
          break;
        }
        lastLoss = report.metrics.loss;
        epochLossSum += report.metrics.loss;
        epochSteps++;
        metricsFile.write(`${JSON.stringify({ epoch: report.epoch, step: report.globalStep, time: Date.now(), ...report.metrics })}\n`);
        this.emit({ type: 'metrics', epoch: report.epoch, globalStep: report.globalStep, metrics: { ...report.metrics } });
        this.emitProgress(report, settings.epochs, totalSteps, startStep, started);
        if (report.globalStep % settings.previewEvery === 1 || settings.previewEvery === 1) {
          this.emit(await makePreview(report, data.relativePaths, settings.imageSize));
        }
        if (report.epochEnded) {
          const knn = data.classes.length >= 2 ? await this.knnMonitor(trainer, data, settings.imageSize) : null;
          lastKnn = knn?.top1 ?? lastKnn;
          const epochEvent = { type: 'epoch' as const, epoch: report.epoch, meanLoss: epochLossSum / Math.max(1, epochSteps), knnTop1: knn?.top1 ?? null, knnTop5: knn?.top5 ?? null, seconds: (performance.now() - epochStarted) / 1000 };
          await appendFile(paths.epochs, `${JSON.stringify(epochEvent)}\n`);
          this.emit(epochEvent);
          log(`epoch ${report.epoch + 1}/${settings.epochs}: loss ${epochEvent.meanLoss.toFixed(4)}${knn ? `, kNN top-1 ${knn.top1.toFixed(3)}` : ''}`);
          if (!(await checkpoint())) {
            failed = true;
            break;
          }
          epochStarted = performance.now();
          epochLossSum = 0;
          epochSteps = 0;
        }
        // Let pause/stop messages in between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (this.stopRequested && !failed && trainer.stepInEpoch > 0 && !(await checkpoint())) failed = true;
    } finally {
      await new Promise<void>((resolve) => metricsFile.end(resolve));
    }

    const finished = trainer.finished && !failed;
    this.finished = finished;
    this.failed = failed;
    if (finished) {
      log('embedding every image with the trained encoder');
      await writeRunEmbeddings(trainer.moco.queryEncoder, data, settings.imageSize, paths.embeddings, saved.path ?? '');
    }
    const stepsRun = trainer.globalStep - startStep;
    const seconds = (performance.now() - started) / 1000;
    const summary: RunSummary = {
      imagesUsed: images.length,
      imagesSkipped: data.skipped.length,
      epochs: trainer.epoch,
      steps: trainer.globalStep,
      imagesPerSecond: seconds > 0 ? (stepsRun * settings.batchSize) / seconds : 0,
      finalLoss: lastLoss,
      knnTop1: lastKnn,
      knnTop1AtStart: knnAtStart,
      backend: this.backend?.name ?? 'unknown',
      backendAdapter: this.backend?.adapter ?? null,
      runDirectory,
      checkpoint: saved.path,
    };
    await updateRunRecord(runDirectory, { status: failed ? 'failed' : finished ? 'finished' : 'stopped', summary, message: failed ? 'NaN/Inf during training (loss or weights); the last good checkpoint is kept' : null });
    if (failed) warn('run failed: non-finite loss');
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

  /** Leave-one-out weighted kNN over the labelled folder (k=200 or fewer, t=0.1), on backbone features. */
  private async knnMonitor(trainer: MocoTrainer, data: TrainingImages, imageSize: number): Promise<{ top1: number; top5: number }> {
    const count = data.images.length;
    const stride = Math.max(1, Math.ceil(count / KNN_MONITOR_LIMIT));
    const rows: RgbImage[] = [];
    const labels: number[] = [];
    for (let i = 0; i < count; i += stride) {
      const label = data.labels[i]!;
      if (label < 0) continue;
      rows.push(data.images[i]!);
      labels.push(label);
    }
    if (rows.length < 2) return { top1: 0, top5: 0 };
    const features = tf.tidy(() => embedImages(trainer.moco.queryEncoder, rows, imageSize));
    try {
      // k=200 as the reference, or half the images of an average class when the folder is small:
      // with 40 images a class, 200 voters would drown the nearest ones.
      const k = Math.max(5, Math.min(200, Math.floor(rows.length / data.classes.length / 2)));
      const result = await weightedKnn(features, Int32Array.from(labels), features, Int32Array.from(labels), { k, temperature: 0.1, numClasses: data.classes.length, excludeSelf: true });
      return { top1: result.top1, top5: result.top5 };
    } finally {
      features.dispose();
    }
  }
}
