/**
 * PCA to a few components for the embedding map: the C x C covariance (C <= 2048) and its top
 * eigenvectors by power iteration with deflation, in float64, pure TypeScript. Deterministic: a
 * fixed start vector, and each axis's sign is chosen so its largest-magnitude coordinate is positive.
 */

export interface PcaResult {
  /** rows x components, row-major. */
  readonly points: Float64Array;
  /** components x dim, row-major, unit vectors. */
  readonly axes: Float64Array;
  /** Eigenvalues of the covariance (variance along each axis). */
  readonly variances: number[];
  /** Fraction of the total variance along each axis, in [0, 1]. */
  readonly explainedVariance: number[];
}

export const PCA_MAX_DIM = 2048;

export function pca(matrix: ArrayLike<number>, rows: number, dim: number, components = 2, iterations = 300): PcaResult {
  if (!Number.isInteger(dim) || dim < 1 || dim > PCA_MAX_DIM) throw new Error(`pca: dim must be in [1, ${PCA_MAX_DIM}], got ${dim}`);
  if (matrix.length !== rows * dim) throw new Error(`pca: ${matrix.length} values is not ${rows} x ${dim}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) mean[c]! += matrix[r * dim + c]!;
  if (rows > 0) for (let c = 0; c < dim; c++) mean[c]! /= rows;
  const centred = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) centred[r * dim + c] = matrix[r * dim + c]! - mean[c]!;
  // covariance (upper triangle, mirrored)
  const cov = new Float64Array(dim * dim);
  const denominator = Math.max(1, rows - 1);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    for (let i = 0; i < dim; i++) {
      const xi = centred[base + i]!;
      if (xi === 0) continue;
      const rowOffset = i * dim;
      for (let j = i; j < dim; j++) cov[rowOffset + j]! += xi * centred[base + j]!;
    }
  }
  let total = 0;
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j]! / denominator;
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
    total += cov[i * dim + i]!;
  }
  const k = Math.min(components, dim);
  const axes = new Float64Array(components * dim);
  const variances: number[] = [];
  const work = new Float64Array(dim);
  for (let comp = 0; comp < k; comp++) {
    const v = new Float64Array(dim);
    for (let i = 0; i < dim; i++) v[i] = 1 + ((i * 7919 + comp * 104729) % 97) / 97; // fixed, generic start
    orthogonalise(v, axes, comp, dim);
    normalise(v);
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      multiply(cov, v, work, dim);
      orthogonalise(work, axes, comp, dim);
      const norm = normalise(work);
      if (norm === 0) break;
      let delta = 0;
      for (let i = 0; i < dim; i++) delta = Math.max(delta, Math.abs(work[i]! - v[i]!));
      v.set(work);
      lambda = norm;
      if (delta < 1e-10) break;
    }
    // deterministic sign: largest-magnitude coordinate positive
    let best = 0;
    for (let i = 1; i < dim; i++) if (Math.abs(v[i]!) > Math.abs(v[best]!)) best = i;
    if (v[best]! < 0) for (let i = 0; i < dim; i++) v[i] = -v[i]!;
    axes.set(v, comp * dim);
    variances.push(lambda);
  }
  for (let comp = k; comp < components; comp++) variances.push(0);
  const points = new Float64Array(rows * components);
  for (let r = 0; r < rows; r++) {
    for (let comp = 0; comp < k; comp++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += centred[r * dim + c]! * axes[comp * dim + c]!;
      points[r * components + comp] = s;
    }
  }
  return { points, axes, variances, explainedVariance: variances.map((v) => (total > 0 ? Math.min(1, Math.max(0, v / total)) : 0)) };
}

function multiply(m: Float64Array, v: Float64Array, out: Float64Array, dim: number): void {
  for (let i = 0; i < dim; i++) {
    let s = 0;
    const o = i * dim;
    for (let j = 0; j < dim; j++) s += m[o + j]! * v[j]!;
    out[i] = s;
  }
}

function orthogonalise(v: Float64Array, axes: Float64Array, count: number, dim: number): void {
  for (let a = 0; a < count; a++) {
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += v[i]! * axes[a * dim + i]!;
    for (let i = 0; i < dim; i++) v[i]! -= dot * axes[a * dim + i]!;
  }
}

function normalise(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return norm;
}
