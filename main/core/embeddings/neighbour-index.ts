/**
 * Exact cosine top-k over an in-memory embedding matrix (M rows x C dims, row-major, rows unit
 * length, so cosine similarity is a plain dot product up to the query's norm).
 *
 * Exact rather than approximate on purpose: a user's folder holds thousands to a few hundred
 * thousand images, where a linear scan is a few milliseconds and needs no index to build, tune or
 * keep in sync. The scan is memory-bound, so the loop reads the matrix once per query (or once per
 * block of queries in batchTopK), allocates nothing per row and keeps the best k in a bounded heap.
 */
import { assertRowsNormalised, rowCount } from './vectors.js';

export interface Neighbour {
  readonly row: number;
  /** Cosine similarity with the query, in [-1, 1] up to float rounding. */
  readonly similarity: number;
}

export interface TopKOptions {
  /** A row to leave out of the answer (the query's own row). */
  readonly excludeRow?: number;
}

export interface BatchTopKOptions {
  /** Per query, a row to leave out (-1 for none); same length as the number of queries. */
  readonly excludeRows?: ArrayLike<number>;
}

export interface NeighbourIndexOptions {
  /**
   * Check every row is finite and unit length (one pass over the matrix, a few ms per 100,000 x
   * 128). On by default: an unnormalised row would silently rank by length instead of angle.
   */
  readonly checkNormalised?: boolean;
}

/**
 * The best k (similarity, row) pairs seen so far, as a min-heap in two parallel typed arrays so
 * that offering a candidate allocates nothing. The root is the worst kept entry: lowest
 * similarity, and among equal similarities the highest row, so ties resolve to the lower row.
 */
class TopKHeap {
  private readonly sims: Float64Array;
  private readonly rows: Int32Array;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.sims = new Float64Array(capacity);
    this.rows = new Int32Array(capacity);
  }

  /**
   * Rows must be offered in increasing order: then a newcomer that only ties the root has a higher
   * row than it, so it is worse, and a strict `>` is all the tie rule needs.
   */
  offer(similarity: number, row: number): void {
    if (this.size < this.capacity) {
      this.siftUp(this.size++, similarity, row);
    } else if (similarity > this.sims[0]!) {
      this.siftDown(similarity, row);
    }
  }

  /** Kept entries, best first (similarity descending, then row ascending). */
  sorted(): Neighbour[] {
    const out: Neighbour[] = [];
    for (let i = 0; i < this.size; i++) out.push({ row: this.rows[i]!, similarity: this.sims[i]! });
    out.sort((a, b) => b.similarity - a.similarity || a.row - b.row);
    return out;
  }

  private worse(simA: number, rowA: number, simB: number, rowB: number): boolean {
    return simA < simB || (simA === simB && rowA > rowB);
  }

  private siftUp(index: number, similarity: number, row: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = this.sims[parent]!;
      const pr = this.rows[parent]!;
      if (!this.worse(similarity, row, ps, pr)) break;
      this.sims[i] = ps;
      this.rows[i] = pr;
      i = parent;
    }
    this.sims[i] = similarity;
    this.rows[i] = row;
  }

  /** Replaces the root with (similarity, row) and restores the heap. */
  private siftDown(similarity: number, row: number): void {
    const n = this.size;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      let child = left;
      const right = left + 1;
      if (right < n && this.worse(this.sims[right]!, this.rows[right]!, this.sims[left]!, this.rows[left]!)) child = right;
      const cs = this.sims[child]!;
      const cr = this.rows[child]!;
      if (!this.worse(cs, cr, similarity, row)) break;
      this.sims[i] = cs;
      this.rows[i] = cr;
      i = child;
    }
    this.sims[i] = similarity;
    this.rows[i] = row;
  }
}

/** Rows per block in batchTopK: 512 rows x 128 dims x 4 bytes = 256 KiB, which stays in L2 while every query passes over it. */
const BATCH_BLOCK_ROWS = 512;

export class NeighbourIndex {
  readonly rows: number;

  constructor(
    private readonly matrix: Float32Array,
    readonly dim: number,
    options: NeighbourIndexOptions = {},
  ) {
    this.rows = rowCount(matrix, dim);
    if (options.checkNormalised ?? true) assertRowsNormalised(matrix, dim);
  }

  /** The k rows most similar to `query` (any length-`dim` vector; its norm is divided out), best first. */
  topK(query: Float32Array, k: number, options: TopKOptions = {}): Neighbour[] {
    const inverseNorm = this.checkQuery(query, 'Query');
    this.checkK(k);
    const exclude = this.checkExcludeRow(options.excludeRow);
    const heap = new TopKHeap(Math.min(k, this.rows));
    this.scan(query, 0, this.rows, exclude, inverseNorm, heap);
    return heap.sorted();
  }

  /** The k nearest other rows of a stored row (the row itself is excluded; identical duplicates are not). */
  neighboursOfRow(row: number, k: number): Neighbour[] {
    const checked = this.checkExcludeRow(row);
    return this.topK(this.matrix.subarray(checked * this.dim, (checked + 1) * this.dim), k, { excludeRow: checked });
  }

  /**
   * topK for many queries at once (`queries` holds n x dim values, row-major). The matrix is walked
   * in cache-sized blocks with every query applied to a block before moving on, so it is streamed
   * from memory once per call instead of once per query.
   */
  batchTopK(queries: Float32Array, k: number, options: BatchTopKOptions = {}): Neighbour[][] {
    if (queries.length % this.dim !== 0) {
      throw new RangeError(`Queries hold ${queries.length} values, not a whole number of ${this.dim}-dim vectors.`);
    }
    this.checkK(k);
    const n = queries.length / this.dim;
    const excludeRows = options.excludeRows;
    if (excludeRows !== undefined && excludeRows.length !== n) {
      throw new RangeError(`excludeRows has ${excludeRows.length} entries for ${n} queries.`);
    }
    const vectors: Float32Array[] = [];
    const inverseNorms: number[] = [];
    const excludes: number[] = [];
    const heaps: TopKHeap[] = [];
    for (let q = 0; q < n; q++) {
      const vector = queries.subarray(q * this.dim, (q + 1) * this.dim);
      vectors.push(vector);
      inverseNorms.push(this.checkQuery(vector, `Query ${q}`));
      const exclude = excludeRows?.[q] ?? -1;
      excludes.push(exclude === -1 ? -1 : this.checkExcludeRow(exclude));
      heaps.push(new TopKHeap(Math.min(k, this.rows)));
    }
    for (let start = 0; start < this.rows; start += BATCH_BLOCK_ROWS) {
      const end = Math.min(this.rows, start + BATCH_BLOCK_ROWS);
      for (let q = 0; q < n; q++) this.scan(vectors[q]!, start, end, excludes[q]!, inverseNorms[q]!, heaps[q]!);
    }
    return heaps.map((heap) => heap.sorted());
  }

  /**
   * The hot loop: dot products of rows [start, end) with the query, four independent accumulators
   * (unrolled by 4) so the additions pipeline instead of waiting on one running sum. Exact ties
   * stay exact ties because identical rows go through identical arithmetic.
   */
  private scan(query: Float32Array, start: number, end: number, exclude: number, inverseNorm: number, heap: TopKHeap): void {
    const m = this.matrix;
    const dim = this.dim;
    const dim4 = dim - (dim % 4);
    for (let r = start; r < end; r++) {
      if (r === exclude) continue;
      const base = r * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j < dim4; j += 4) {
        const b = base + j;
        s0 += m[b]! * query[j]!;
        s1 += m[b + 1]! * query[j + 1]!;
        s2 += m[b + 2]! * query[j + 2]!;
        s3 += m[b + 3]! * query[j + 3]!;
      }
      for (; j < dim; j++) s0 += m[base + j]! * query[j]!;
      heap.offer((s0 + s1 + (s2 + s3)) * inverseNorm, r);
    }
  }

  /** Validates a query vector; returns 1 / its norm so similarities come out as true cosines. */
  private checkQuery(query: Float32Array, label: string): number {
    if (query.length !== this.dim) {
      throw new RangeError(`${label} has ${query.length} dims but the embeddings have ${this.dim}.`);
    }
    let sum = 0;
    for (let j = 0; j < query.length; j++) {
      const v = query[j]!;
      if (!Number.isFinite(v)) throw new RangeError(`${label} contains ${v} at dim ${j}; it must be finite.`);
      sum += v * v;
    }
    if (sum === 0) throw new RangeError(`${label} is all zeros; cosine similarity is undefined for it.`);
    return 1 / Math.sqrt(sum);
  }

  private checkK(k: number): void {
    if (!Number.isInteger(k) || k <= 0) throw new RangeError(`k must be a positive integer, got ${k}.`);
  }

  /** Returns the row to exclude, or -1 for none (never a valid row, so the scan's `r === exclude` skips nothing). */
  private checkExcludeRow(row: number | undefined): number {
    if (row === undefined) return -1;
    if (!Number.isInteger(row) || row < 0 || row >= this.rows) {
      throw new RangeError(`Row ${row} is out of range: the index has ${this.rows} rows (0..${this.rows - 1}).`);
    }
    return row;
  }
}
