/**
 * How long a run of these settings would train here, measured before Start (issue 12, "a quick
 * first run"): the estimate job times the step of the resolved settings on the backend training
 * would choose (main/trainer/estimate.ts). Step time depends on the settings' shape, not on the
 * epochs, seed or rates, so one measurement per backend + shape is cached for the app's life.
 * From Start to finished = the trainer's start-up that job measured (process, tfjs, backend,
 * workers, first compilation; ~5 s here, more than the steps of a quick run) + the steps + the
 * images the run embeds for its kNN checks and final embeddings at the job's timed embed rate.
 */
import { availableParallelism } from 'node:os';
import type { InvokeRequest, InvokeResponse } from '../../shared/contract.js';
import { embeddedImagesOfRun } from '../../shared/monitor-limits.js';
import type { TrainerEventOf } from '../../shared/trainer-protocol.js';
import { resolveSettings, type BackendKind, type ResolvedSettings } from '../../shared/training-settings.js';
import type { TrainerProcess } from './trainer-host.js';
import { runTrainerJob } from './trainer-jobs.js';

type EstimateRequest = InvokeRequest<'training:estimate'>;
type EstimateResponse = InvokeResponse<'training:estimate'>;

/** What a step's time depends on. */
function shapeKey(settings: ResolvedSettings, backendPreference: string, workers: number | undefined): string {
  const { imageSize, batchSize, architecture, widthMultiplier, smallImageStem, queueSize, dim, head, bnSplits } = settings;
  return JSON.stringify({ backendPreference, imageSize, batchSize, architecture, widthMultiplier, smallImageStem, queueSize, dim, head, bnSplits, workers: workers ?? null });
}

/** Settings whose warm-up and timed steps take longer than this are too slow to estimate (and to train) here. */
const ESTIMATE_TIMEOUT_MS = 180_000;

export class TrainingEstimates {
  private readonly measured = new Map<string, Promise<TrainerEventOf<'estimate'>>>();

  constructor(private readonly spawn: () => TrainerProcess, private readonly backendReport: string, private readonly backendGuess: () => BackendKind) {}

  async estimate({ settings, imageCount, hasClasses }: EstimateRequest): Promise<EstimateResponse> {
    // Resolved here too (the trainer's choice may differ only in the backend, which the key names as asked for).
    const local = resolveSettings(settings, imageCount, this.backendGuess(), availableParallelism()).settings;
    const key = shapeKey(local, settings.backend ?? 'auto', settings.workers);
    let job = this.measured.get(key);
    const cached = job !== undefined;
    if (!job) {
      job = runTrainerJob({ type: 'estimate', userSettings: settings, imageCount, backendReport: this.backendReport }, undefined, this.spawn, ESTIMATE_TIMEOUT_MS);
      this.measured.set(key, job);
      job.catch(() => { if (this.measured.get(key) === job) this.measured.delete(key); });
    }
    const result = await job;
    const stepsPerEpoch = Math.floor(imageCount / result.settings.batchSize);
    const totalSteps = stepsPerEpoch * local.epochs;
    const trainingSeconds = result.secondsPerStep * totalSteps;
    const embeddedImages = embeddedImagesOfRun(imageCount, local.epochs, hasClasses ?? true);
    const embeddingSeconds = result.embedSecondsPerImage * embeddedImages;
    return {
      backend: result.backend, workers: result.workers, secondsPerStep: result.secondsPerStep, timedSteps: result.timedSteps,
      stepsPerEpoch, totalSteps, trainingSeconds, startupSeconds: result.startupSeconds, embeddedImages, embeddingSeconds,
      totalSeconds: result.startupSeconds + trainingSeconds + embeddingSeconds, cached,
    };
  }
}
