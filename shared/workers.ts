/**
 * How many worker threads train (issue 9: data-parallel wasm). Pure, so the UI can show the
 * same choice. Each worker takes N/W images and G/W of the G BatchNorm groups of every batch, so
 * W must divide both (no group straddles two workers). Only the wasm backend runs a pool.
 *
 * The default is one per core, capped at MAX_DEFAULT_WORKERS: every worker repeats the fixed
 * costs of a step (momentum update, gradient sum, SGD, enqueue on its own replica) while its share
 * of the convolutions shrinks, its slice of the batch gets too small for XNNPACK's GEMM tiles,
 * and it holds its own copy of both encoders, the queue and the SGD buffers (memory).
 */
export const MAX_DEFAULT_WORKERS = 4;
export const MAX_WORKERS = 64;

export interface WorkerChoice {
  readonly workers: number;
  readonly reason: string;
  /** Set when a requested count had to change. */
  readonly adjustedFrom: number | null;
}

function largestCommonDivisorAtMost(a: number, b: number, limit: number): number {
  let w = Math.max(1, Math.floor(limit));
  while (w > 1 && (a % w !== 0 || b % w !== 0)) w--;
  return w;
}

export function chooseWorkers(requested: number | undefined, bnSplits: number, batchSize: number, backend: string, cores: number): WorkerChoice {
  if (backend !== 'wasm') {
    return { workers: 1, reason: `1: worker threads split the batch on the wasm backend only (this run trains on ${backend})`, adjustedFrom: requested !== undefined && requested !== 1 ? requested : null };
  }
  if (requested !== undefined) {
    const w = largestCommonDivisorAtMost(bnSplits, batchSize, Math.min(requested, MAX_WORKERS));
    return w === requested
      ? { workers: w, reason: `${w}: as set`, adjustedFrom: null }
      : { workers: w, reason: `${w}: the workers must divide the ${bnSplits} BatchNorm groups and the batch of ${batchSize}, so that no group straddles two workers`, adjustedFrom: requested };
  }
  const limit = Math.max(1, Math.min(cores, MAX_DEFAULT_WORKERS));
  const w = largestCommonDivisorAtMost(bnSplits, batchSize, limit);
  const why = w < limit
    ? `the largest count that divides the ${bnSplits} BatchNorm groups (no group straddles two workers)`
    : cores > MAX_DEFAULT_WORKERS
      ? `one per core, capped at ${MAX_DEFAULT_WORKERS}: beyond it each worker's slice of the batch is small and the per-worker fixed costs (SGD, momentum update, gradient sum on every replica) and memory grow`
      : 'one per core';
  return { workers: w, reason: `${w} worker thread${w === 1 ? '' : 's'}: ${why}`, adjustedFrom: null };
}
