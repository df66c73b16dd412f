import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EmbeddingStoreError, MANIFEST_FILE, MATRIX_FILE, csvField, exportCsv, exportNpy, formatFloat32, npyHeader,
  readEmbeddings, writeEmbeddings, type EmbeddingItem,
} from '../../../../main/core/embeddings/embedding-store.js';
import { l2NormalizeRows } from '../../../../main/core/embeddings/vectors.js';

/** Seeded unit rows (mulberry32), so a failure reproduces. */
function randomUnitRows(rows: number, dim: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const random = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return l2NormalizeRows(Float32Array.from({ length: rows * dim }, () => random() * 2 - 1), dim);
}

const ROWS = 37;
const DIM = 12;
const items: EmbeddingItem[] = Array.from({ length: ROWS }, (_, i) => ({
  relativePath: `class-${i % 3}/image ${i}.png`,
  className: i === 5 ? null : `class-${i % 3}`,
}));
items[1] = { relativePath: 'odd, "quoted" näme/🐱 ü.jpg', className: 'cats, "big"' };
items[2] = { relativePath: 'line\nbreak.png', className: null };
const matrix = randomUnitRows(ROWS, DIM, 42);

/** Minimal RFC 4180 parser (quoted fields, doubled quotes, CRLF records) to read the export back independently. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"' && field === '') { quoted = true; i++; continue; }
    if (c === ',') { record.push(field); field = ''; i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') { record.push(field); records.push(record); record = []; field = ''; i += 2; continue; }
    if (c === '"' || c === '\n' || c === '\r') throw new Error(`stray ${JSON.stringify(c)} outside quotes at ${i}`);
    field += c; i++;
  }
  if (field !== '' || record.length > 0) throw new Error('last record not terminated by CRLF');
  return records;
}

/** Independent .npy reader: magic, version, header dict, shape, little-endian float32 data. */
function parseNpy(bytes: Uint8Array): { headerTotal: number; dict: string; shape: number[]; data: Float32Array } {
  expect([...bytes.subarray(0, 6)]).toEqual([0x93, ...Buffer.from('NUMPY')]);
  expect([bytes[6], bytes[7]]).toEqual([1, 0]);
  const headerLength = bytes[8]! | (bytes[9]! << 8);
  const headerTotal = 10 + headerLength;
  const dict = Buffer.from(bytes.subarray(10, headerTotal)).toString('latin1');
  expect(dict.endsWith('\n')).toBe(true);
  expect(dict).toMatch(/'descr': '<f4'/);
  expect(dict).toMatch(/'fortran_order': False/);
  const shapeMatch = /'shape': \((\d+), (\d+)\)/.exec(dict);
  expect(shapeMatch).not.toBeNull();
  const shape = [Number(shapeMatch![1]), Number(shapeMatch![2])];
  const view = new DataView(bytes.buffer, bytes.byteOffset + headerTotal, bytes.length - headerTotal);
  const data = new Float32Array(view.byteLength / 4);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  return { headerTotal, dict, shape, data };
}

describe('embedding store', () => {
  let root: string;
  let n = 0;
  const freshDir = (): string => join(root, `run-${n++}`);
  const createdAt = new Date('2024-05-06T07:08:09.000Z');

  beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'moco-embeddings-')); });
  afterAll(async () => { await rm(root, { recursive: true, force: true }); });

  it('round-trips matrix, items and manifest, with little-endian bytes and no temp files left', async () => {
    const dir = freshDir();
    const manifest = await writeEmbeddings(dir, { matrix, dim: DIM, items, checkpoint: 'epoch-0003.ckpt', createdAt });
    expect(manifest).toMatchObject({ format: 'moco-studio-embeddings', version: 1, rows: ROWS, dim: DIM, checkpoint: 'epoch-0003.ckpt', createdAt: '2024-05-06T07:08:09.000Z' });
    expect((await readdir(dir)).sort()).toEqual([MATRIX_FILE, MANIFEST_FILE]);

    const raw = await readFile(join(dir, MATRIX_FILE));
    expect(raw.length).toBe(ROWS * DIM * 4);
    expect(raw.readFloatLE(4 * 13)).toBe(matrix[13]);

    const loaded = await readEmbeddings(dir);
    expect(loaded.rows).toBe(ROWS);
    expect(loaded.dim).toBe(DIM);
    expect(loaded.matrix).toEqual(matrix);
    expect(loaded.items).toEqual(items);
    expect(loaded.manifest).toEqual(manifest);
    expect(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'))).toEqual(manifest);
  });

  it('refuses to write rows that are not unit length, or a wrong number of items', async () => {
    const bad = matrix.slice();
    bad[3 * DIM] = bad[3 * DIM]! + 0.5;
    await expect(writeEmbeddings(freshDir(), { matrix: bad, dim: DIM, items, checkpoint: 'c' })).rejects.toThrow(/Row 3 is not L2-normalised/);
    await expect(writeEmbeddings(freshDir(), { matrix, dim: DIM, items: items.slice(1), checkpoint: 'c' })).rejects.toThrow(/36 items for a matrix of 37 rows/);
    await expect(writeEmbeddings(freshDir(), { matrix, dim: 5, items, checkpoint: 'c' })).rejects.toThrow(/not a whole number of rows/);
  });

  describe('damaged files give errors naming the file', () => {
    let dir: string;
    beforeAll(async () => {
      dir = freshDir();
      await writeEmbeddings(dir, { matrix, dim: DIM, items, checkpoint: 'c', createdAt });
    });
    const matrixPath = (): string => join(dir, MATRIX_FILE);
    const manifestPath = (): string => join(dir, MANIFEST_FILE);

    async function expectStoreError(pattern: RegExp, file: string): Promise<void> {
      const error: unknown = await readEmbeddings(dir).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(EmbeddingStoreError);
      expect((error as EmbeddingStoreError).file).toBe(file);
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toMatch(pattern);
    }

    it('flipped bit in the matrix: digest mismatch', async () => {
      const original = await readFile(matrixPath());
      const corrupt = Buffer.from(original);
      corrupt[100] = corrupt[100]! ^ 0x01;
      await writeFile(matrixPath(), corrupt);
      await expectStoreError(/does not match the sha256/, matrixPath());
      await writeFile(matrixPath(), original);
      await expect(readEmbeddings(dir)).resolves.toBeDefined();
    });

    it('truncated or extended matrix: size mismatch', async () => {
      const original = await readFile(matrixPath());
      await truncate(matrixPath(), original.length - 4);
      await expectStoreError(/has 1772 bytes, but .* describes 37 rows x 12 float32 = 1776 bytes \(truncated/, matrixPath());
      await writeFile(matrixPath(), Buffer.concat([original, Buffer.alloc(4)]));
      await expectStoreError(/longer than described/, matrixPath());
      await rm(matrixPath());
      await expectStoreError(/Cannot open embedding matrix/, matrixPath());
      await writeFile(matrixPath(), original);
    });

    it('manifest from another matrix (same shape, other vectors): digest mismatch', async () => {
      const original = await readFile(matrixPath());
      const other = randomUnitRows(ROWS, DIM, 7);
      await writeFile(matrixPath(), new Uint8Array(other.buffer));
      await expectStoreError(/belongs to another manifest/, matrixPath());
      await writeFile(matrixPath(), original);
    });

    it('manifest with wrong rows, items, format, version, or not JSON', async () => {
      const original = await readFile(manifestPath(), 'utf8');
      const manifest = JSON.parse(original) as Record<string, unknown>;
      const cases: [Record<string, unknown> | string, RegExp, string][] = [
        [{ ...manifest, rows: ROWS - 1, items: items.slice(1) }, /has 1776 bytes, but .* describes 36 rows/, matrixPath()],
        [{ ...manifest, items: items.slice(1) }, /lists 36 items for 37 rows/, manifestPath()],
        [{ ...manifest, format: 'something-else' }, /not a valid moco-studio-embeddings v1 manifest: format/, manifestPath()],
        [{ ...manifest, version: 2 }, /format version 2; this build reads version 1/, manifestPath()],
        [{ ...manifest, dim: 0 }, /dim/, manifestPath()],
        ['{"format": "moco-studio-embeddings", ', /not valid JSON/, manifestPath()],
      ];
      for (const [content, pattern, file] of cases) {
        await writeFile(manifestPath(), typeof content === 'string' ? content : JSON.stringify(content));
        await expectStoreError(pattern, file);
      }
      await rm(manifestPath());
      await expectStoreError(/Cannot read embeddings manifest/, manifestPath());
      await writeFile(manifestPath(), original);
      await expect(readEmbeddings(dir)).resolves.toBeDefined();
    });
  });

  it('.npy export parses back: magic, v1.0 header padded to 64 bytes, shape, exact data', async () => {
    const path = join(root, 'export.npy');
    await exportNpy(path, { matrix, dim: DIM });
    const bytes = new Uint8Array(await readFile(path));
    const parsed = parseNpy(bytes);
    expect(parsed.headerTotal % 64).toBe(0);
    expect(parsed.dict).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(37, 12\), \} *\n$/);
    expect(parsed.shape).toEqual([ROWS, DIM]);
    expect(parsed.data).toEqual(matrix);
    // Header lengths near a 64-byte boundary still pad correctly (the dict length varies with the shape's digits).
    for (const [rows, dim] of [[0, 1], [1, 1], [123456789, 4096], [99999, 99999]] as const) {
      const header = npyHeader(rows, dim);
      expect(header.length % 64).toBe(0);
      expect(header[header.length - 1]).toBe(0x0a);
      expect(Buffer.from(header.subarray(10)).toString('latin1')).toContain(`'shape': (${rows}, ${dim})`);
      expect((header[8]! | (header[9]! << 8)) + 10).toBe(header.length);
    }
  });

  it('CSV export: header, RFC 4180 quoting of comma/quote/newline/unicode, values that parse back to the same float32', async () => {
    const path = join(root, 'export.csv');
    await exportCsv(path, { rows: ROWS, dim: DIM, matrix, items });
    const text = await readFile(path, 'utf8');
    expect(text.startsWith(`path,class,${Array.from({ length: DIM }, (_, j) => `e${j}`).join(',')}\r\n`)).toBe(true);
    expect(text).toContain('"odd, ""quoted"" näme/🐱 ü.jpg","cats, ""big"""');
    const records = parseCsv(text);
    expect(records.length).toBe(ROWS + 1);
    for (let r = 0; r < ROWS; r++) {
      const record = records[r + 1]!;
      expect(record.length).toBe(2 + DIM);
      expect(record[0]).toBe(items[r]!.relativePath);
      expect(record[1]).toBe(items[r]!.className ?? '');
      for (let j = 0; j < DIM; j++) expect(Math.fround(Number(record[2 + j]))).toBe(matrix[r * DIM + j]);
    }
  });

  it('csvField and formatFloat32 edge cases', () => {
    expect(csvField('plain/path.png')).toBe('plain/path.png');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('ünïcødé 🐱')).toBe('ünïcødé 🐱');
    for (const v of [0.5, -1, Math.fround(1e-30), Math.fround(0.1), Math.fround(-0.123456789), Math.fround(3.4e38), 0]) {
      expect(Math.fround(Number(formatFloat32(v)))).toBe(v);
    }
    expect(formatFloat32(0.5)).toBe('0.5');
  });
});
