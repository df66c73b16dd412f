import { describe, expect, it } from 'vitest';
import { NeighbourIndex, type Neighbour } from '../../../../main/core/embeddings/neighbour-index.js';
import { l2NormalizeRows } from '../../../../main/core/embeddings/vectors.js';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomVectors(count: number, dim: number, seed: number): Float32Array {
  const random = seeded(seed);
  return Float32Array.from({ length: count * dim }, () => random() * 2 - 1);
}

/** Reference: naive dot products in one running sum, full sort by (similarity desc, row asc). */
function bruteForce(matrix: Float32Array, dim: number, query: Float32Array, k: number, excludeRow = -1): Neighbour[] {
  let norm = 0;
  for (const v of query) norm += v * v;
  norm = Math.sqrt(norm);
  const all: Neighbour[] = [];
  for (let r = 0; r < matrix.length / dim; r++) {
    if (r === excludeRow) continue;
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += matrix[r * dim + j]! * query[j]!;
    all.push({ row: r, similarity: dot / norm });
  }
  return all.sort((a, b) => b.similarity - a.similarity || a.row - b.row).slice(0, k);
}

function expectSame(actual: readonly Neighbour[], expected: readonly Neighbour[]): void {
  expect(actual.map((n) => n.row)).toEqual(expected.map((n) => n.row));
  actual.forEach((n, i) => { expect(n.similarity).toBeCloseTo(expected[i]!.similarity, 9); });
}

describe('NeighbourIndex', () => {
  // Odd dims exercise the unrolled loop's remainder; 128 is the real embedding size.
  for (const dim of [1, 3, 7, 128]) {
    it(`topK equals a brute-force sort (dim ${dim}, several k, k > rows)`, () => {
      const rows = 500;
      const matrix = l2NormalizeRows(randomVectors(rows, dim, dim), dim);
      const index = new NeighbourIndex(matrix, dim);
      const queries = randomVectors(5, dim, 1000 + dim); // not normalised: topK divides the norm out
      for (let q = 0; q < 5; q++) {
        const query = queries.subarray(q * dim, (q + 1) * dim);
        for (const k of [1, 2, 10, 57, rows, rows + 25]) {
          const result = index.topK(query, k);
          expect(result.length).toBe(Math.min(k, rows));
          expectSame(result, bruteForce(matrix, dim, query, k));
        }
      }
    });
  }

  it('similarities are cosines: a stored row finds itself at 1, its negation at -1', () => {
    const dim = 16;
    const matrix = l2NormalizeRows(randomVectors(50, dim, 5), dim);
    const index = new NeighbourIndex(matrix, dim);
    const row7 = matrix.slice(7 * dim, 8 * dim);
    const top = index.topK(row7.map((v) => v * 3), 1);
    expect(top[0]!.row).toBe(7);
    expect(top[0]!.similarity).toBeCloseTo(1, 6);
    const all = index.topK(row7.map((v) => -v), 50);
    expect(all[49]!.row).toBe(7);
    expect(all[49]!.similarity).toBeCloseTo(-1, 6);
  });

  it('excludeRow and neighboursOfRow leave the query row out', () => {
    const dim = 32;
    const rows = 300;
    const matrix = l2NormalizeRows(randomVectors(rows, dim, 11), dim);
    const index = new NeighbourIndex(matrix, dim);
    for (const row of [0, 1, 149, rows - 1]) {
      const query = matrix.subarray(row * dim, (row + 1) * dim);
      expect(index.topK(query, 1)[0]!.row).toBe(row);
      for (const k of [1, 10, rows]) {
        const viaTopK = index.topK(query, k, { excludeRow: row });
        expect(viaTopK.some((n) => n.row === row)).toBe(false);
        expect(viaTopK.length).toBe(Math.min(k, rows - 1));
        expectSame(viaTopK, bruteForce(matrix, dim, query, k, row));
        expect(index.neighboursOfRow(row, k)).toEqual(viaTopK);
      }
    }
  });

  it('ties are stable: equal similarities come back lower row first, including at the k cut-off', () => {
    const dim = 8;
    const base = l2NormalizeRows(randomVectors(10, dim, 3), dim);
    // Rows 2, 5, 9, 14 and 20 are copies of one vector; the rest are other vectors.
    const rows = 24;
    const matrix = new Float32Array(rows * dim);
    const copies = [2, 5, 9, 14, 20];
    let other = 1;
    for (let r = 0; r < rows; r++) {
      const source = copies.includes(r) ? 0 : 1 + (other++ % 9);
      matrix.set(base.subarray(source * dim, (source + 1) * dim), r * dim);
    }
    const index = new NeighbourIndex(matrix, dim);
    const query = base.subarray(0, dim);
    expect(index.topK(query, 5).map((n) => n.row)).toEqual(copies);
    expect(index.topK(query, 3).map((n) => n.row)).toEqual([2, 5, 9]);
    expect(index.topK(query, 3, { excludeRow: 5 }).map((n) => n.row)).toEqual([2, 9, 14]);
    expect(index.neighboursOfRow(9, 2).map((n) => n.row)).toEqual([2, 5]);
    // Every tie among the other vectors (each appears 2-3 times) also resolves lower row first.
    const all = index.topK(query, rows);
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1]!, all[i]!];
      expect(a.similarity > b.similarity || (a.similarity === b.similarity && a.row < b.row)).toBe(true);
    }
  });

  it('batchTopK equals topK per query, with per-query exclusions, across block boundaries', () => {
    const dim = 20;
    const rows = 1300; // more than two 512-row blocks
    const matrix = l2NormalizeRows(randomVectors(rows, dim, 17), dim);
    const index = new NeighbourIndex(matrix, dim);
    const queries = randomVectors(6, dim, 18);
    const excludeRows = [-1, 0, 511, 512, 1299, -1];
    const batch = index.batchTopK(queries, 7, { excludeRows });
    expect(batch.length).toBe(6);
    batch.forEach((result, q) => {
      const query = queries.subarray(q * dim, (q + 1) * dim);
      const exclude = excludeRows[q]!;
      expect(result).toEqual(index.topK(query, 7, exclude === -1 ? {} : { excludeRow: exclude }));
    });
    expect(index.batchTopK(new Float32Array(0), 3)).toEqual([]);
  });

  it('validates inputs with clear errors', () => {
    const dim = 4;
    const matrix = l2NormalizeRows(randomVectors(10, dim, 1), dim);
    const index = new NeighbourIndex(matrix, dim);
    const query = new Float32Array([1, 0, 0, 0]);
    expect(() => index.topK(new Float32Array(5), 1)).toThrow('Query has 5 dims but the embeddings have 4.');
    expect(() => index.topK(query, 0)).toThrow('k must be a positive integer, got 0.');
    expect(() => index.topK(query, -3)).toThrow(/k must be a positive integer/);
    expect(() => index.topK(query, 2.5)).toThrow(/k must be a positive integer/);
    expect(() => index.topK(new Float32Array([1, NaN, 0, 0]), 1)).toThrow('Query contains NaN at dim 1; it must be finite.');
    expect(() => index.topK(new Float32Array([1, 0, Infinity, 0]), 1)).toThrow(/Infinity at dim 2/);
    expect(() => index.topK(new Float32Array(4), 1)).toThrow(/all zeros/);
    expect(() => index.topK(query, 1, { excludeRow: 10 })).toThrow('Row 10 is out of range: the index has 10 rows (0..9).');
    expect(() => index.neighboursOfRow(-1, 3)).toThrow(/Row -1 is out of range/);
    expect(() => index.batchTopK(new Float32Array(6), 1)).toThrow(/not a whole number of 4-dim vectors/);
    expect(() => index.batchTopK(new Float32Array(8), 1, { excludeRows: [0] })).toThrow(/excludeRows has 1 entries for 2 queries/);
    expect(() => index.batchTopK(new Float32Array([1, 0, 0, 0, 0, NaN, 0, 0]), 1)).toThrow(/Query 1 contains NaN/);

    expect(() => new NeighbourIndex(new Float32Array(10), 4)).toThrow(/not a whole number of rows of 4 dims/);
    expect(() => new NeighbourIndex(new Float32Array(8), 0)).toThrow(/positive integer/);
    const unnormalised = matrix.slice();
    unnormalised[8] = 2;
    expect(() => new NeighbourIndex(unnormalised, dim)).toThrow(/Row 2 is not L2-normalised/);
    unnormalised[8] = NaN;
    expect(() => new NeighbourIndex(unnormalised, dim)).toThrow(/Row 2 contains NaN or Infinity/);
    expect(() => new NeighbourIndex(unnormalised, dim, { checkNormalised: false })).not.toThrow();
    expect(() => l2NormalizeRows(new Float32Array([1, 1, 0, 0]), 2)).toThrow('Row 1 is all zeros; it has no direction to normalise.');
  });

  it('an empty index answers with no neighbours', () => {
    const index = new NeighbourIndex(new Float32Array(0), 3);
    expect(index.rows).toBe(0);
    expect(index.topK(new Float32Array([1, 0, 0]), 5)).toEqual([]);
  });
});
