/** The compact map replies (issue 14): base64 Float32 round trip, contract checks, spread sample, cache per loaded embeddings. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base64ToFloat32, base64ToInt32, decodeBase64, encodeBase64, float32ToBase64 } from '../../../shared/binary-base64.js';
import { invokeContract } from '../../../shared/contract.js';
import { readEmbeddings, writeEmbeddings } from '../../../main/core/embeddings/embedding-store.js';
import { embeddingItems, embeddingSample, pcaMap, spreadRows } from '../../../main/core/embeddings/map-projection.js';
import { pca } from '../../../main/core/pca.js';

const root = await mkdtemp(join(tmpdir(), 'moco-map-projection-'));
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('binary base64', () => {
  it('round-trips bytes of every length and Float32 values exactly', () => {
    for (let n = 0; n < 10; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + 13) % 256);
      expect(encodeBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
      expect([...decodeBase64(encodeBase64(bytes))]).toEqual([...bytes]);
    }
    const values = Float32Array.from([0, -1.5, 3.25e-7, 1e30, Number.NaN]);
    expect([...base64ToFloat32(float32ToBase64(values))]).toEqual([...values]);
    expect(() => decodeBase64('a*b=')).toThrow(/not base64/);
  });
});

describe('map projection', () => {
  it('answers PCA as base64 Float32 that the contract accepts (and refuses a wrong length), cached per loaded embeddings', async () => {
    const rows = 50; const dim = 8;
    const matrix = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      matrix[r * dim + (r % 3)] = 1;
      matrix[r * dim + 3] = (r % 7) / 10;
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += matrix[r * dim + d]! ** 2;
      for (let d = 0; d < dim; d++) matrix[r * dim + d]! /= Math.sqrt(norm);
    }
    const items = Array.from({ length: rows }, (_, r) => ({ relativePath: `c${r % 3}/${r}.png`, className: `c${r % 3}` }));
    await writeEmbeddings(join(root, 'e'), { matrix, dim, items, checkpoint: 'step-1.ckpt' });
    const embeddings = await readEmbeddings(join(root, 'e'));
    const reply = pcaMap(embeddings);
    expect(pcaMap(embeddings)).toBe(reply);
    expect(invokeContract['embeddings:map'].response.safeParse(reply).success).toBe(true);
    expect(invokeContract['embeddings:map'].response.safeParse({ ...reply, rows: rows + 1 }).success).toBe(false);
    const expected = pca(embeddings.matrix, rows, dim, 2);
    const points = base64ToFloat32(reply.points);
    expect(points[2 * 7]).toBeCloseTo(expected.points[2 * 7]!, 5);
    expect(points[2 * 7 + 1]).toBeCloseTo(expected.points[2 * 7 + 1]!, 5);
    expect(embeddingItems(embeddings)).toMatchObject({ classes: ['c0', 'c1', 'c2'], checkpoint: 'step-1.ckpt' });
    // A reload (as after training again) is a new embeddings object: computed afresh.
    expect(pcaMap(await readEmbeddings(join(root, 'e')))).not.toBe(reply);

    const sample = embeddingSample(embeddings, 10);
    expect(invokeContract['embeddings:sample'].response.safeParse(sample).success).toBe(true);
    const picked = base64ToInt32(sample.rowIndexes);
    expect([...picked]).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
    expect([...base64ToFloat32(sample.vectors).subarray(dim, 2 * dim)]).toEqual([...embeddings.matrix.subarray(5 * dim, 6 * dim)]);
  });

  it('fits PCA axes on a spread sample of a large set and still projects every row like the exact PCA', async () => {
    const rows = 30_000; const dim = 4;
    const matrix = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      // two clear axes (variances ~4 and ~1 before normalising), the rest small
      const v = [2 * Math.sin(r * 0.37), Math.cos(r * 1.91), 0.05 * Math.sin(r * 7.3), 3];
      const norm = Math.hypot(...v);
      for (let d = 0; d < dim; d++) matrix[r * dim + d] = v[d]! / norm;
    }
    const items = Array.from({ length: rows }, (_, r) => ({ relativePath: `${r}.png`, className: null }));
    await writeEmbeddings(join(root, 'large'), { matrix, dim, items, checkpoint: 'step-2.ckpt' });
    const embeddings = await readEmbeddings(join(root, 'large'));
    const reply = pcaMap(embeddings);
    expect(reply).toMatchObject({ rows, fittedRows: 20_000 });
    const exact = pca(embeddings.matrix, rows, dim, 2).points;
    const points = base64ToFloat32(reply.points);
    let worst = 0;
    for (let r = 0; r < rows; r += 97) worst = Math.max(worst, Math.abs(points[2 * r]! - exact[2 * r]!), Math.abs(points[2 * r + 1]! - exact[2 * r + 1]!));
    expect(worst).toBeLessThan(0.01);
  });

  it('spreads a sample over every row and never repeats one', () => {
    expect([...spreadRows(5, 10)]).toEqual([0, 1, 2, 3, 4]);
    const rows = spreadRows(100_000, 3000);
    expect(new Set(rows).size).toBe(3000);
    expect(rows[2999]).toBeGreaterThan(99_900);
  });
});
