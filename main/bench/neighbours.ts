/**
 * Exact cosine top-k speed of NeighbourIndex: `npx tsx main/bench/neighbours.ts [--queries 200] [--k 10]`.
 * Prints one JSON document on stdout (progress on stderr). Matrices are seeded random unit rows,
 * so runs are comparable; the 1,000,000-row case (512 MiB) is skipped when free memory is short.
 * JavaScript runs the scan on one thread, so every figure is one core.
 */
import { cpus, freemem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { NeighbourIndex } from '../core/embeddings/neighbour-index.js';
import { mulberry32 } from '../../shared/mulberry32.js';

interface CaseResult {
  rows: number;
  dim: number;
  k: number;
  queries: number;
  buildMs: number;
  topK: { medianMs: number; p95Ms: number; minMs: number };
  neighboursOfRow: { medianMs: number; p95Ms: number };
  batchTopK: { queries: number; msPerQuery: number };
}

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer.`);
  return value;
}

/** Random unit rows; uniform entries are fine here, the scan's cost does not depend on the values. */
function randomUnitRows(rows: number, dim: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let sum = 0;
    for (let j = 0; j < dim; j++) {
      const v = random() * 2 - 1;
      out[base + j] = v;
      sum += v * v;
    }
    const inverse = 1 / Math.sqrt(sum);
    for (let j = 0; j < dim; j++) out[base + j] = out[base + j]! * inverse;
  }
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function timeMany(count: number, run: (i: number) => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    run(i);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

function benchCase(rows: number, dim: number, k: number, queryCount: number): CaseResult {
  process.stderr.write(`${rows} x ${dim}: generating...\n`);
  const matrix = randomUnitRows(rows, dim, 1234 + rows);
  const queries = randomUnitRows(queryCount, dim, 99);
  let start = performance.now();
  const index = new NeighbourIndex(matrix, dim); // includes the normalisation check
  const buildMs = performance.now() - start;

  let sink = 0; // keeps results alive so the work cannot be optimised away
  const warmup = Math.min(20, queryCount);
  for (let i = 0; i < warmup; i++) sink += index.topK(queries.subarray(i * dim, (i + 1) * dim), k)[0]!.similarity;

  process.stderr.write(`${rows} x ${dim}: timing ${queryCount} queries...\n`);
  const topK = timeMany(queryCount, (i) => {
    sink += index.topK(queries.subarray(i * dim, (i + 1) * dim), k)[0]!.similarity;
  });
  const ofRow = timeMany(Math.min(queryCount, 50), (i) => {
    sink += index.neighboursOfRow((i * 7919) % rows, k)[0]!.similarity;
  });
  const batchQueries = Math.min(queryCount, 64);
  start = performance.now();
  sink += index.batchTopK(queries.subarray(0, batchQueries * dim), k).length;
  const batchMs = performance.now() - start;
  if (Number.isNaN(sink)) process.stderr.write('unexpected NaN\n');

  return {
    rows, dim, k, queries: queryCount, buildMs: round(buildMs),
    topK: { medianMs: round(percentile(topK, 0.5)), p95Ms: round(percentile(topK, 0.95)), minMs: round(topK[0]!) },
    neighboursOfRow: { medianMs: round(percentile(ofRow, 0.5)), p95Ms: round(percentile(ofRow, 0.95)) },
    batchTopK: { queries: batchQueries, msPerQuery: round(batchMs / batchQueries) },
  };
}

const k = argument('k', 10);
const queries = argument('queries', 200);
const dim = 128;
const results: CaseResult[] = [];
const skipped: { rows: number; reason: string }[] = [];
for (const rows of [10_000, 100_000, 1_000_000]) {
  const bytes = rows * dim * 4;
  // Generation and the index each hold the matrix once; ask for 3x to leave room for the heap.
  if (freemem() < 3 * bytes) {
    skipped.push({ rows, reason: `needs about ${Math.round((3 * bytes) / 2 ** 20)} MiB free, ${Math.round(freemem() / 2 ** 20)} MiB available` });
    continue;
  }
  results.push(benchCase(rows, dim, k, rows >= 1_000_000 ? Math.min(queries, 30) : queries));
}

const headline = results.find((r) => r.rows === 100_000);
process.stdout.write(`${JSON.stringify({
  benchmark: 'exact cosine top-k (NeighbourIndex.topK), one thread',
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  target: 'top-10 over 100,000 x 128 well under 50 ms',
  rows: headline?.rows, dim, k,
  medianMs: headline?.topK.medianMs, p95Ms: headline?.topK.p95Ms,
  cases: results,
  skipped,
}, null, 2)}\n`);
