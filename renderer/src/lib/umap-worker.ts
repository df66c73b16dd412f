/**
 * UMAP of a sample of a run's embeddings, off the UI thread (issue 12 item 6), with umap-js.
 * In:  { vectors: Float32Array (rows x dim), rows, dim, epochs }.
 * Out: { type: 'progress', done, total } messages, then { type: 'done', points: Float32Array (rows x 2) }
 *      or { type: 'error', message }.
 * Seeded (mulberry32), so the same sample gives the same picture.
 */
import { UMAP } from 'umap-js';
import { mulberry32 } from '../../../shared/mulberry32';

interface FitRequest { vectors: Float32Array; rows: number; dim: number; epochs: number }

self.onmessage = (event: MessageEvent<FitRequest>) => {
  const { vectors, rows, dim, epochs } = event.data;
  try {
    const data: number[][] = [];
    for (let r = 0; r < rows; r++) data.push(Array.from(vectors.subarray(r * dim, (r + 1) * dim)));
    const umap = new UMAP({ nComponents: 2, nNeighbors: Math.max(2, Math.min(15, rows - 1)), nEpochs: epochs, random: mulberry32(12) });
    const total = umap.initializeFit(data);
    for (let done = 0; done < total; done++) {
      umap.step();
      if (done % 10 === 0) self.postMessage({ type: 'progress', done, total });
    }
    const embedding = umap.getEmbedding();
    const points = new Float32Array(rows * 2);
    embedding.forEach(([x, y], r) => { points[2 * r] = x ?? 0; points[2 * r + 1] = y ?? 0; });
    self.postMessage({ type: 'done', points }, { transfer: [points.buffer] });
  } catch (error) {
    self.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  }
};
