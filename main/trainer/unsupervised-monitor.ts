/**
 * The per-epoch progress signal of a folder without classes (issue 10 Deliver 3): on a fixed,
 * evenly spread subset, the embedding's uniformity (Wang & Isola 2020) and how many of each
 * image's 10 nearest neighbours it kept since the previous epoch. Neither needs labels; neither
 * says the neighbours are *right*, only whether the embedding spreads the images out and
 * whether it is still changing, which the UI says in one line.
 */
import type { UnsupervisedSignal } from '../../shared/trainer-protocol.js';
import type { RgbImage } from '../ml/augment.js';
import type { ComputeHost } from '../ml/compute-host.js';
import { nearestNeighbours, neighbourAgreement, uniformity } from '../ml/embedding-signal.js';
import { embedThroughHost } from './compute-hosts.js';
import { EMBEDDING_REPRESENTATION, standardiseMatrix } from './run-embeddings.js';

/** Images scored at most: the N x N similarity matrix stays at 4 MB. */
const UNSUPERVISED_MONITOR_LIMIT = 1000;
const AGREEMENT_K = 10;

export class UnsupervisedMonitor {
  private readonly rows: RgbImage[] = [];
  private previous: Int32Array | null = null;

  constructor(images: readonly RgbImage[], private readonly imageSize: number) {
    const stride = Math.max(1, Math.ceil(images.length / UNSUPERVISED_MONITOR_LIMIT));
    for (let i = 0; i < images.length; i += stride) this.rows.push(images[i]!);
  }

  /** Needs more images than neighbours. */
  get usable(): boolean {
    return this.rows.length > AGREEMENT_K;
  }

  /** The signal of the query encoder now (the product's standardised embedding, eval mode). */
  async measure(host: ComputeHost): Promise<UnsupervisedSignal> {
    const { features } = await standardiseMatrix(await embedThroughHost(host, this.rows, this.imageSize, EMBEDDING_REPRESENTATION));
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
