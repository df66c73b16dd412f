/**
 * The per-epoch kNN monitor of a labelled folder and its baselines (issue 10): leave-one-out
 * weighted kNN (t = 0.1) over a fixed, evenly spread subset of the folder, for the encoder being
 * trained and, once at the start, for standardised raw pixels on the same images, so the user
 * sees whether training bought anything over the pixels and over the random initialisation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { confusionCounts } from '../../shared/knn-confusion.js';
import { KNN_MONITOR_LIMIT } from '../../shared/monitor-limits.js';
import type { KnnConfusion } from '../../shared/trainer-protocol.js';
import type { RgbImage } from '../ml/augment.js';
import { weightedKnn } from '../ml/knn.js';
import { pixelFeatures, pixelStatistics } from '../ml/pixel-baseline.js';
import type { ComputeHost } from '../ml/compute-host.js';
import { embedThroughHost } from './compute-hosts.js';
import { EMBEDDING_REPRESENTATION, standardiseMatrix } from './run-embeddings.js';
import type { TrainingImages } from './training-images.js';


export interface KnnScore {
  readonly top1: number;
  readonly top5: number;
  /** counts[truth][predicted] with the class names (folders of at most CONFUSION_MAX_CLASSES classes; issue 12 item 5). */
  readonly confusion?: KnnConfusion;
}

/** Above this many classes the matrix is too big to read (or to append to epochs.jsonl every epoch). */
export const CONFUSION_MAX_CLASSES = 50;

export class KnnMonitor {
  /** Positions of the monitored images; their pixels are read from the store once, when first scored. */
  private readonly positions: number[] = [];
  private rows: readonly RgbImage[] | null = null;
  private readonly labels: Int32Array;
  private readonly k: number;

  constructor(private readonly data: TrainingImages, private readonly imageSize: number) {
    const count = data.count;
    const stride = Math.max(1, Math.ceil(count / KNN_MONITOR_LIMIT));
    const labels: number[] = [];
    for (let i = 0; i < count; i += stride) {
      const label = data.labels[i]!;
      if (label < 0) continue;
      this.positions.push(i);
      labels.push(label);
    }
    this.labels = Int32Array.from(labels);
    // k=200 as the reference, or half the images of an average class when the folder is small:
    // with 40 images a class, 200 voters would drown the nearest ones.
    this.k = Math.max(5, Math.min(200, Math.floor(this.positions.length / Math.max(1, data.classes.length) / 2)));
  }

  /** Whether the folder has the classes (>= 2) and images (>= 2) a monitor needs. */
  get usable(): boolean {
    return this.data.classes.length >= 2 && this.positions.length >= 2;
  }

  /** At most KNN_MONITOR_LIMIT images (2000 x 64 x 64 x 3 bytes = 25 MB at 32 px), kept for the run. */
  private async monitoredImages(): Promise<readonly RgbImage[]> {
    this.rows ??= await this.data.source.read(this.positions);
    return this.rows;
  }

  private async score(features: tf.Tensor2D): Promise<KnnScore> {
    const numClasses = this.data.classes.length;
    const result = await weightedKnn(features, this.labels, features, this.labels, { k: this.k, temperature: 0.1, numClasses, excludeSelf: true });
    if (numClasses > CONFUSION_MAX_CLASSES) return { top1: result.top1, top5: result.top5 };
    return { top1: result.top1, top5: result.top5, confusion: { classes: [...this.data.classes], counts: confusionCounts(this.labels, result.predictions, numClasses) } };
  }

  /** The query encoder's embedding through the run's compute host (the one the product stores and searches: standardised), eval mode. */
  async encoder(host: ComputeHost): Promise<KnnScore> {
    if (!this.usable) return { top1: 0, top5: 0 };
    const { features } = standardiseMatrix(await embedThroughHost(host, await this.monitoredImages(), this.imageSize, EMBEDDING_REPRESENTATION));
    try {
      return await this.score(features);
    } finally {
      features.dispose();
    }
  }

  /** Standardised raw pixels at the training size, the baseline an embedding has to beat. */
  async pixels(): Promise<KnnScore> {
    if (!this.usable) return { top1: 0, top5: 0 };
    const rows = await this.monitoredImages();
    const statistics = pixelStatistics(rows, this.imageSize);
    const features = pixelFeatures(rows, this.imageSize, statistics);
    try {
      return await this.score(features);
    } finally {
      features.dispose();
      statistics.mean.dispose();
      statistics.std.dispose();
    }
  }
}
