/**
 * What a training run measures besides the step (issue 10): the baselines at the start (raw pixels
 * and the random initialisation, on the kNN monitor's images), and at every epoch's end the kNN
 * score of a labelled folder or the label-free signal of an unlabelled one, the epoch's record
 * (epochs.jsonl and the `epoch` event) and a plateau, said once. Kept apart from the loop in
 * training-run.ts, which only decides when an epoch ends.
 */
import { appendFile } from 'node:fs/promises';
import { detectPlateau } from '../../shared/plateau.js';
import type { TrainerEvent } from '../../shared/trainer-protocol.js';
import type { ComputeHost } from '../ml/compute-host.js';
import type { StepReport } from '../ml/trainer.js';
import { KnnMonitor } from './knn-monitor.js';
import type { TrainingImages } from './training-images.js';
import { UnsupervisedMonitor } from './unsupervised-monitor.js';

export interface RunBaselines {
  readonly knnTop1RandomInit: number | null;
  readonly knnTop1Pixels: number;
}

export class RunMonitors {
  private readonly knn: KnnMonitor;
  private readonly unsupervised: UnsupervisedMonitor | null;
  /** Per-epoch progress signal for plateau detection: kNN with classes, else the mean loss. */
  private readonly signal: number[] = [];
  private plateauReported = false;
  private epochStarted = performance.now();
  private lossSum = 0;
  private steps = 0;
  /** The newest epoch's kNN top-1 (null until one is measured, or without classes). */
  lastKnn: number | null = null;

  constructor(data: TrainingImages, imageSize: number, private readonly epochsFile: string, private readonly emit: (event: TrainerEvent) => void, private readonly log: (message: string) => void) {
    this.knn = new KnnMonitor(data, imageSize);
    this.unsupervised = this.knn.usable ? null : new UnsupervisedMonitor(data.source, imageSize);
  }

  /**
   * The baselines the trained embedding must beat, on the same images (issue 10); null without
   * classes. A resumed run cannot measure its random init again: `recorded` keeps it (issue 12 item 2).
   */
  async baselines(host: ComputeHost, atStart: boolean, recorded: RunBaselines | null): Promise<RunBaselines | null> {
    if (!this.knn.usable) return null;
    const knnTop1RandomInit = atStart ? (await this.knn.encoder(host)).top1 : recorded?.knnTop1RandomInit ?? null;
    const knnTop1Pixels = (await this.knn.pixels()).top1;
    this.emit({ type: 'baselines', knnTop1RandomInit, knnTop1Pixels });
    this.log(`kNN top-1 baselines: raw pixels ${knnTop1Pixels.toFixed(3)}${knnTop1RandomInit === null ? '' : `, random initialisation ${knnTop1RandomInit.toFixed(3)}`}`);
    return { knnTop1RandomInit, knnTop1Pixels };
  }

  /** Counts a step's loss into its epoch. */
  step(loss: number): void {
    this.lossSum += loss;
    this.steps++;
  }

  /** Time spent paused is not the epoch's. */
  paused(milliseconds: number): void {
    this.epochStarted += milliseconds;
  }

  /** At an epoch's end (`report.epochEnded`): measure, record, emit and log it, and say a plateau once. */
  async endEpoch(report: StepReport, epochs: number, host: ComputeHost): Promise<void> {
    const knn = this.knn.usable ? await this.knn.encoder(host) : null;
    const signalWithoutLabels = this.unsupervised?.usable ? await this.unsupervised.measure(host) : null;
    this.lastKnn = knn?.top1 ?? this.lastKnn;
    const epochEvent = {
      type: 'epoch' as const, epoch: report.epoch, meanLoss: this.lossSum / Math.max(1, this.steps), knnTop1: knn?.top1 ?? null, knnTop5: knn?.top5 ?? null, seconds: (performance.now() - this.epochStarted) / 1000,
      ...(knn?.confusion ? { confusion: knn.confusion } : {}), ...(signalWithoutLabels ? { unsupervised: signalWithoutLabels } : {}),
    };
    await appendFile(this.epochsFile, `${JSON.stringify(epochEvent)}\n`);
    this.emit(epochEvent);
    this.log(`epoch ${report.epoch + 1}/${epochs}: loss ${epochEvent.meanLoss.toFixed(4)}${knn ? `, kNN top-1 ${knn.top1.toFixed(3)}` : ''}`);
    this.signal.push(knn ? knn.top1 : epochEvent.meanLoss);
    const plateau = this.plateauReported ? null : detectPlateau(knn ? 'knn' : 'loss', this.signal);
    if (plateau) {
      this.plateauReported = true;
      this.emit({ type: 'plateau', metric: plateau.metric, epoch: report.epoch, best: plateau.best, message: plateau.message });
      this.log(plateau.message);
    }
  }

  /** The next epoch starts now (after its predecessor's checkpoint). */
  startEpoch(): void {
    this.epochStarted = performance.now();
    this.lossSum = 0;
    this.steps = 0;
  }
}
