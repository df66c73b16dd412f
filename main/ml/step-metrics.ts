/**
 * A step's metrics as partial sums, so that replicas that each see a slice of the batch
 * (data-parallel hosts, issue 9) combine into exactly the metrics of the whole batch:
 * counts and sums add up, and the embedding std needs every query row, so the rows travel too.
 * Reduced in JavaScript: [n, 1+K] is small to copy, while the same reductions as tfjs ops cost
 * ~10 ms on wasm (its Greater with a broadcast [N, 1] operand is a scalar C++ loop).
 */
import type { StepMetrics } from './moco.js';

export interface MetricPartial {
  /** Rows (queries) in this slice. */
  readonly count: number;
  /** This slice's share of the batch-mean loss (its rows' cross-entropy summed / N). */
  readonly loss: number;
  readonly top1: number; // rows whose positive ranks first
  readonly top5: number;
  /** Sums of raw logits (already divided by T), positives and negatives. */
  readonly positiveSum: number;
  readonly negativeSum: number;
  readonly negativeCount: number;
  /** q rows of this slice, [count, dim] row-major, L2-normalised. */
  readonly queries: Float32Array;
  readonly dim: number;
}

/** Partial metrics of one slice from its logits [n, 1+K] and queries [n, C]. */
export function metricPartial(loss: number, logits: Float32Array | Int32Array | Uint8Array, width: number, queries: Float32Array, dim: number): MetricPartial {
  const n = queries.length / dim;
  let top1 = 0;
  let top5 = 0;
  let positiveSum = 0;
  let negativeSum = 0;
  for (let i = 0; i < n; i++) {
    const row = i * width;
    const positive = logits[row]!;
    positiveSum += positive;
    // rank of the positive = number of negatives scoring strictly higher
    let rank = 0;
    for (let j = 1; j < width; j++) {
      const v = logits[row + j]!;
      negativeSum += v;
      if (v > positive) rank++;
    }
    if (rank < 1) top1++;
    if (rank < 5) top5++;
  }
  return { count: n, loss, top1, top5, positiveSum, negativeSum, negativeCount: n * (width - 1), queries, dim };
}

/** The batch's metrics from the partials of its slices (in batch order). */
export function combineMetrics(partials: readonly MetricPartial[], temperature: number, queueFill: number, learningRate: number): StepMetrics {
  let n = 0;
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  let positiveSum = 0;
  let negativeSum = 0;
  let negativeCount = 0;
  for (const p of partials) {
    n += p.count;
    loss += p.loss;
    top1 += p.top1;
    top5 += p.top5;
    positiveSum += p.positiveSum;
    negativeSum += p.negativeSum;
    negativeCount += p.negativeCount;
  }
  // Mean over dimensions of the unbiased std over the batch (torch.std in the reference).
  const dim = partials[0]?.dim ?? 1;
  let stdSum = 0;
  for (let d = 0; d < dim; d++) {
    let mean = 0;
    for (const p of partials) for (let i = 0; i < p.count; i++) mean += p.queries[i * dim + d]!;
    mean /= n;
    let ss = 0;
    for (const p of partials) for (let i = 0; i < p.count; i++) ss += (p.queries[i * dim + d]! - mean) ** 2;
    stdSum += Math.sqrt(ss / (n - 1));
  }
  return {
    loss,
    top1: top1 / n,
    top5: top5 / n,
    positiveLogit: (positiveSum / n) * temperature,
    negativeLogit: (negativeSum / negativeCount) * temperature,
    embeddingStd: stdSum / dim,
    queueFill,
    learningRate,
  };
}
