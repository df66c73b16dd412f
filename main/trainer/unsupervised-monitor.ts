/**
 * The per-epoch progress signal of a folder without classes (issue 10 Deliver 3): on a fixed,
 * evenly spread subset, the embedding's uniformity (Wang & Isola 2020) and how many of each
 * image's 10 nearest neighbours it kept since the previous epoch. Neither needs labels; neither
 * says the neighbours are *right*, only whether the embedding spreads the images out and
 * whether it is still changing, which the UI says in one line.
 */
// At most UNSUPERVISED_MONITOR_LIMIT images: the N x N similarity matrix stays at 4 MB.
import { UNSUPERVISED_MONITOR_LIMIT } from '../../shared/monitor-limits.js';
import type { UnsupervisedSignal } from '../../shared/trainer-protocol.js';
import type { RgbImage } from '../ml/augment.js';
import type { ComputeHost } from '../ml/compute-host.js';
import { MemoryImageSource, type ImageSource } from '../ml/image-source.js';
import { nearestNeighbours, neighbourAgreement, uniformity } from '../ml/embedding-signal.js';
import { embedThroughHost } from './compute-hosts.js';
import { EMBEDDING_REPRESENTATION, standardiseMatrix } from './run-embeddings.js';

const AGREEMENT_K = 10;

export class UnsupervisedMonitor {
  private readonly positions: number[] = [];
  private readonly source: ImageSource;
  /** Read from the source once, on the first measure (issue 14: images live in the on-disk store). */
  private rows: readonly RgbImage[] | null = null;
  private previous: Int32Array | null = null;

  constructor(images: ImageSource | readonly RgbImage[], private readonly imageSize: number) {
    this.source = 'read' in images ? images : new MemoryImageSource(images);
    const stride = Math.max(1, Math.ceil(this.source.count / UNSUPERVISED_MONITOR_LIMIT));
    for (let i = 0; i < this.source.count; i += stride) this.positions.push(i);
  }

  /** Needs more images than neighbours. */
  get usable(): boolean {
    return this.positions.length > AGREEMENT_K;
  }

  /** The signal of the query encoder now (the product's standardised embedding, eval mode). */
  async measure(host: ComputeHost): Promise<UnsupervisedSignal> {
    this.rows ??= await this.source.read(this.positions);
    const { features } = standardiseMatrix(await embedThroughHost(host, this.rows, this.imageSize, EMBEDDING_REPRESENTATION));
    try {
      const spread = await uniformity(features);
      const neighbours = await nearestNeighbours(features, AGREEMENT_K);
      const agreement = this.previous ? neighbourAgreement(this.previous, neighbours, AGREEMENT_K) : null;
      this.previous = neighbours;
      return { uniformity: spread, neighbourAgreement: agreement, images: this.rows.length };
    } finally {
      features.dispose();
    }
  }
}
