/**
 * Small pure helpers for row-major float32 matrices of embeddings (M rows x C dims). The store and
 * the neighbour index both rely on rows being unit length, because that is what makes a plain dot
 * product equal to cosine similarity.
 */

/** How far a stored row's norm may drift from 1: float32 rounding of a unit 4096-dim vector stays far below this. */
export const UNIT_NORM_TOLERANCE = 1e-3;

/** Checks that `matrix` is a whole number of rows of `dim` values; returns the row count. */
export function rowCount(matrix: Float32Array, dim: number): number {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`Embedding dimension must be a positive integer, got ${dim}.`);
  if (matrix.length % dim !== 0) {
    throw new RangeError(`Matrix of ${matrix.length} values is not a whole number of rows of ${dim} dims.`);
  }
  return matrix.length / dim;
}

/** Euclidean norm of row `row`, accumulated in double precision. */
export function rowNorm(matrix: Float32Array, dim: number, row: number): number {
  const base = row * dim;
  let sum = 0;
  for (let j = 0; j < dim; j++) {
    const v = matrix[base + j]!;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

/**
 * Returns a copy of `matrix` with every row scaled to unit length. A zero or non-finite row has
 * no direction, so it is an error (naming the row) rather than a silent row of zeros or NaNs that
 * would later rank as everyone's, or no one's, neighbour.
 */
export function l2NormalizeRows(matrix: Float32Array, dim: number): Float32Array {
  const rows = rowCount(matrix, dim);
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) {
    const norm = rowNorm(matrix, dim, r);
    if (!Number.isFinite(norm)) throw new RangeError(`Row ${r} contains NaN or Infinity; it cannot be normalised.`);
    if (norm === 0) throw new RangeError(`Row ${r} is all zeros; it has no direction to normalise.`);
    const base = r * dim;
    const inverse = 1 / norm;
    for (let j = 0; j < dim; j++) out[base + j] = matrix[base + j]! * inverse;
  }
  return out;
}

/** Throws, naming the first offending row, unless every row is finite and of unit length. */
export function assertRowsNormalised(matrix: Float32Array, dim: number): void {
  const rows = rowCount(matrix, dim);
  for (let r = 0; r < rows; r++) {
    const norm = rowNorm(matrix, dim, r);
    if (!Number.isFinite(norm)) throw new RangeError(`Row ${r} contains NaN or Infinity.`);
    if (Math.abs(norm - 1) > UNIT_NORM_TOLERANCE) {
      throw new RangeError(`Row ${r} is not L2-normalised (norm ${norm.toPrecision(6)}); normalise rows first (l2NormalizeRows).`);
    }
  }
}
