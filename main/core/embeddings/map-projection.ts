/**
 * What the Map and the grids read of a run's embeddings (issues 12 item 6 and 14): the item list
 * (cheap, so a grid never waits for a projection), the 2-D PCA as Float32 base64, and a spread
 * sample of the vectors for a UMAP fitted in the renderer. Projections are cached per loaded
 * embeddings object, i.e. per checkpoint's embeddings: AppCore drops its loaded embeddings when
 * a run trains again, so a new checkpoint's embeddings get a new map.
 */
import { float32ToBase64, int32ToBase64 } from '../../../shared/binary-base64.js';
import type { InvokeResponse } from '../../../shared/contract.js';
import { pca, PCA_MAX_DIM } from '../pca.js';
import type { StoredEmbeddings } from './embedding-store.js';

/** PCA axes are fitted on at most this many rows (spread over the folder); every row is projected. */
export const PCA_FIT_ROWS = 20_000;

/** The sample sent for UMAP carries at most this many floats (8 MB), whatever the width. */
export const SAMPLE_MAX_FLOATS = 2_000_000;

export class MapProjectionError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'MapProjectionError';
  }
}

const itemsCache = new WeakMap<StoredEmbeddings, InvokeResponse<'embeddings:items'>>();
const pcaCache = new WeakMap<StoredEmbeddings, InvokeResponse<'embeddings:map'>>();

export function embeddingItems(embeddings: StoredEmbeddings): InvokeResponse<'embeddings:items'> {
  let cached = itemsCache.get(embeddings);
  if (!cached) {
    const classes = [...new Set(embeddings.items.map((i) => i.className).filter((c): c is string => c !== null))].sort();
    cached = { items: embeddings.items.map((i) => ({ relativePath: i.relativePath, className: i.className })), classes, checkpoint: embeddings.manifest.checkpoint };
    itemsCache.set(embeddings, cached);
  }
  return cached;
}

export function pcaMap(embeddings: StoredEmbeddings): InvokeResponse<'embeddings:map'> {
  let cached = pcaCache.get(embeddings);
  if (!cached) {
    if (embeddings.dim > PCA_MAX_DIM) throw new MapProjectionError('too-large', `Embeddings have ${embeddings.dim} dimensions; the map supports at most ${PCA_MAX_DIM}`);
    const { rows, dim, matrix } = embeddings;
    // The axes are fitted on a spread sample of at most PCA_FIT_ROWS rows, then every row is
    // projected: the covariance costs rows x dim^2 and at 100k rows blocked the server for
    // seconds (the item list waited behind it); 20k rows give the same picture for a map.
    const fitted = spreadRows(rows, PCA_FIT_ROWS);
    const sample = fitted.length === rows ? matrix : gatherRows(matrix, dim, fitted);
    const result = pca(sample, fitted.length, dim, 2);
    const mean = new Float64Array(dim);
    for (let r = 0; r < fitted.length; r++) for (let d = 0; d < dim; d++) mean[d]! += sample[r * dim + d]!;
    for (let d = 0; d < dim; d++) mean[d]! /= Math.max(1, fitted.length);
    const points = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      let x = 0; let y = 0;
      for (let d = 0; d < dim; d++) {
        const v = matrix[r * dim + d]! - mean[d]!;
        x += v * result.axes[d]!;
        y += v * (result.axes[dim + d] ?? 0);
      }
      points[2 * r] = x; points[2 * r + 1] = y;
    }
    cached = {
      rows, fittedRows: fitted.length, points: float32ToBase64(points),
      explainedVariance: [result.explainedVariance[0] ?? 0, result.explainedVariance[1] ?? 0], checkpoint: embeddings.manifest.checkpoint,
    };
    pcaCache.set(embeddings, cached);
  }
  return cached;
}

/** Rows 0, s, 2s, ... (s = rows / n): spread over the folder's order, so over every class subfolder, and deterministic. */
export function spreadRows(rows: number, n: number): Int32Array {
  const count = Math.min(rows, n);
  const picked = new Int32Array(count);
  for (let i = 0; i < count; i++) picked[i] = Math.floor((i * rows) / count);
  return picked;
}

function gatherRows(matrix: Float32Array, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => { out.set(matrix.subarray(row * dim, (row + 1) * dim), i * dim); });
  return out;
}

export function embeddingSample(embeddings: StoredEmbeddings, maxRows: number): InvokeResponse<'embeddings:sample'> {
  const { dim, matrix } = embeddings;
  const rowIndexes = spreadRows(embeddings.rows, Math.min(maxRows, Math.floor(SAMPLE_MAX_FLOATS / dim)));
  const vectors = gatherRows(matrix, dim, rowIndexes);
  return {
    rows: rowIndexes.length, dim, totalRows: embeddings.rows, rowIndexes: int32ToBase64(rowIndexes), vectors: float32ToBase64(vectors), checkpoint: embeddings.manifest.checkpoint,
  };
}
