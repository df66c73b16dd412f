/**
 * On-disk embeddings of a run: the matrix produced by the trained query encoder for every image of
 * the folder, and the exports behind the UI's "export" buttons.
 *
 *   embeddings.f32   rows x dim float32, little-endian, row-major, every row L2-normalised;
 *                    raw so it can be read straight into a Float32Array (or np.fromfile).
 *   embeddings.json  manifest: format, version, rows, dim, createdAt, checkpoint, sha256 of the
 *                    .f32 file, items [{ relativePath, className | null }] in row order.
 *
 * Both are written atomically, the matrix first and the manifest last. A crash in between leaves
 * the old manifest beside the new matrix; the manifest's digest then refuses that pair on load
 * instead of attaching old file names to new vectors. Load checks size and digest before any
 * vector is handed out, with errors that name the file at fault.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { writeChunksAtomic } from '../atomic-file.js';
import { assertRowsNormalised, rowCount } from './vectors.js';

export const EMBEDDINGS_FORMAT = 'moco-studio-embeddings';
export const EMBEDDINGS_VERSION = 1;
export const MATRIX_FILE = 'embeddings.f32';
export const MANIFEST_FILE = 'embeddings.json';

const itemSchema = z.strictObject({
  /** Path of the image relative to the trained folder. */
  relativePath: z.string().min(1),
  /** Name of the class subfolder, or null when the folder has no class structure. */
  className: z.string().nullable(),
});

const manifestSchema = z.strictObject({
  format: z.literal(EMBEDDINGS_FORMAT),
  version: z.literal(EMBEDDINGS_VERSION),
  rows: z.number().int().nonnegative(),
  dim: z.number().int().positive(),
  createdAt: z.string().min(1),
  /** Which checkpoint of the run produced the vectors (e.g. its file name). */
  checkpoint: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  items: z.array(itemSchema),
});

export type EmbeddingItem = z.infer<typeof itemSchema>;
export type EmbeddingManifest = z.infer<typeof manifestSchema>;

export interface Embeddings {
  readonly rows: number;
  readonly dim: number;
  /** rows x dim, row-major, rows unit length. */
  readonly matrix: Float32Array;
  /** One per row, in row order. */
  readonly items: readonly EmbeddingItem[];
}

export interface StoredEmbeddings extends Embeddings {
  readonly manifest: EmbeddingManifest;
}

export interface WriteEmbeddingsInput {
  readonly matrix: Float32Array;
  readonly dim: number;
  readonly items: readonly EmbeddingItem[];
  readonly checkpoint: string;
  /** Defaults to now. */
  readonly createdAt?: Date;
}

/** A stored-embeddings problem; `file` is the file at fault, also named in the message. */
export class EmbeddingStoreError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = 'EmbeddingStoreError';
  }
}

/** Reads and writes use bounded slices so a large matrix never needs a second full copy in flight. */
const IO_SLICE_BYTES = 64 * 1024 * 1024;
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/** Writes `embeddings.f32` then `embeddings.json` into `directory` (created if missing); returns the manifest. */
export async function writeEmbeddings(directory: string, input: WriteEmbeddingsInput): Promise<EmbeddingManifest> {
  const rows = rowCount(input.matrix, input.dim);
  if (input.items.length !== rows) {
    throw new RangeError(`${input.items.length} items for a matrix of ${rows} rows; there must be one item per row.`);
  }
  assertRowsNormalised(input.matrix, input.dim);
  const bytes = littleEndianBytes(input.matrix);
  const manifest = manifestSchema.parse({
    format: EMBEDDINGS_FORMAT,
    version: EMBEDDINGS_VERSION,
    rows,
    dim: input.dim,
    createdAt: (input.createdAt ?? new Date()).toISOString(),
    checkpoint: input.checkpoint,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    items: input.items.map((item) => ({ relativePath: item.relativePath, className: item.className })),
  });
  await mkdir(directory, { recursive: true });
  await writeChunksAtomic(join(directory, MATRIX_FILE), [bytes]);
  await writeChunksAtomic(join(directory, MANIFEST_FILE), [`${JSON.stringify(manifest, null, 1)}\n`]);
  return manifest;
}

/** Loads and verifies the embeddings of `directory`; throws EmbeddingStoreError naming the bad file. */
export async function readEmbeddings(directory: string): Promise<StoredEmbeddings> {
  const manifestPath = join(directory, MANIFEST_FILE);
  const matrixPath = join(directory, MATRIX_FILE);
  const manifest = await readManifest(manifestPath);
  const { rows, dim } = manifest;

  const expectedBytes = rows * dim * 4;
  let handle;
  try {
    handle = await open(matrixPath, 'r');
  } catch (error) {
    throw new EmbeddingStoreError(`Cannot open embedding matrix ${matrixPath}: ${errorMessage(error)}`, matrixPath);
  }
  const matrix = new Float32Array(rows * dim);
  try {
    const { size } = await handle.stat();
    if (size !== expectedBytes) {
      throw new EmbeddingStoreError(
        `Embedding matrix ${matrixPath} has ${size} bytes, but ${manifestPath} describes ${rows} rows x ${dim} float32 = ${expectedBytes} bytes ` +
          `(${size < expectedBytes ? 'truncated' : 'longer than described'}, or the two files come from different runs).`,
        matrixPath,
      );
    }
    const view = new Uint8Array(matrix.buffer);
    const hash = createHash('sha256');
    let offset = 0;
    while (offset < expectedBytes) {
      const { bytesRead } = await handle.read(view, offset, Math.min(IO_SLICE_BYTES, expectedBytes - offset), offset);
      if (bytesRead === 0) throw new EmbeddingStoreError(`Embedding matrix ${matrixPath} ended early at byte ${offset} while reading.`, matrixPath);
      hash.update(view.subarray(offset, offset + bytesRead));
      offset += bytesRead;
    }
    const digest = hash.digest('hex');
    if (digest !== manifest.sha256) {
      throw new EmbeddingStoreError(
        `Embedding matrix ${matrixPath} does not match the sha256 recorded in ${manifestPath} ` +
          `(found ${digest}, expected ${manifest.sha256}): the matrix is corrupt or belongs to another manifest. Re-run "embed".`,
        matrixPath,
      );
    }
  } finally {
    await handle.close();
  }
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes32(new Uint8Array(matrix.buffer));
  return { rows, dim, matrix, items: manifest.items, manifest };
}

async function readManifest(path: string): Promise<EmbeddingManifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new EmbeddingStoreError(`Cannot read embeddings manifest ${path}: ${errorMessage(error)}`, path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EmbeddingStoreError(`Embeddings manifest ${path} is not valid JSON: ${errorMessage(error)}`, path);
  }
  if (typeof json === 'object' && json !== null && 'format' in json && json.format === EMBEDDINGS_FORMAT &&
      'version' in json && typeof json.version === 'number' && json.version > EMBEDDINGS_VERSION) {
    throw new EmbeddingStoreError(`Embeddings manifest ${path} has format version ${json.version}; this build reads version ${EMBEDDINGS_VERSION}.`, path);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new EmbeddingStoreError(`Embeddings manifest ${path} is not a valid ${EMBEDDINGS_FORMAT} v${EMBEDDINGS_VERSION} manifest: ${problems.join('; ')}`, path);
  }
  const manifest = parsed.data;
  if (manifest.items.length !== manifest.rows) {
    throw new EmbeddingStoreError(`Embeddings manifest ${path} lists ${manifest.items.length} items for ${manifest.rows} rows.`, path);
  }
  if (!Number.isSafeInteger(manifest.rows * manifest.dim * 4)) {
    throw new EmbeddingStoreError(`Embeddings manifest ${path} describes an impossible matrix of ${manifest.rows} x ${manifest.dim}.`, path);
  }
  return manifest;
}

// ---- exports ---------------------------------------------------------------------------------

/**
 * NumPy .npy format 1.0 header for a C-order float32 little-endian (rows, dim) array: magic
 * "\x93NUMPY", version 1.0, little-endian uint16 header length, then a Python dict literal padded
 * with spaces and ended by "\n" so the data starts on a 64-byte boundary, as the format asks.
 */
export function npyHeader(rows: number, dim: number): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  const preamble = 10; // 6 magic + 2 version + 2 header length
  const unpadded = preamble + dict.length + 1; // + "\n"
  const headerLength = dict.length + 1 + ((64 - (unpadded % 64)) % 64);
  const out = new Uint8Array(preamble + headerLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, headerLength & 0xff, headerLength >> 8]);
  out.fill(0x20, preamble);
  for (let i = 0; i < dict.length; i++) out[preamble + i] = dict.charCodeAt(i);
  out[out.length - 1] = 0x0a;
  return out;
}

/** Writes `path` as a .npy file loadable with `numpy.load(path)` (shape (rows, dim), dtype float32). */
export async function exportNpy(path: string, embeddings: Pick<Embeddings, 'matrix' | 'dim'>): Promise<void> {
  const rows = rowCount(embeddings.matrix, embeddings.dim);
  await writeChunksAtomic(path, [npyHeader(rows, embeddings.dim), littleEndianBytes(embeddings.matrix)]);
}

/** RFC 4180 field: quoted (with inner quotes doubled) only when it holds a comma, quote, CR or LF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * A float32 as decimal text that parses back to the same float32: 9 significant digits always
 * suffice for binary32; Number() then String() drops trailing zeros (0.5 rather than 0.500000000).
 */
export function formatFloat32(value: number): string {
  return String(Number(value.toPrecision(9)));
}

/** CSV text in chunks of rows: header `path,class,e0..e{dim-1}`, CRLF line ends, UTF-8, no BOM. */
export function* csvChunks(embeddings: Embeddings, rowsPerChunk = 1024): Generator<string> {
  const { matrix, dim, items } = embeddings;
  const rows = rowCount(matrix, dim);
  if (items.length !== rows) throw new RangeError(`${items.length} items for a matrix of ${rows} rows.`);
  const header = ['path', 'class'];
  for (let j = 0; j < dim; j++) header.push(`e${j}`);
  yield `${header.join(',')}\r\n`;
  let chunk: string[] = [];
  for (let r = 0; r < rows; r++) {
    const item = items[r]!;
    const fields = [csvField(item.relativePath), item.className === null ? '' : csvField(item.className)];
    const base = r * dim;
    for (let j = 0; j < dim; j++) fields.push(formatFloat32(matrix[base + j]!));
    chunk.push(fields.join(','));
    if (chunk.length === rowsPerChunk) {
      yield `${chunk.join('\r\n')}\r\n`;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield `${chunk.join('\r\n')}\r\n`;
}

/** Writes the CSV export atomically, streamed (a million rows do not fit in one JS string). */
export async function exportCsv(path: string, embeddings: Embeddings): Promise<void> {
  await writeChunksAtomic(path, csvChunks(embeddings));
}

// ---- helpers -----------------------------------------------------------------------------------

/** The matrix as little-endian bytes: a view on little-endian hosts (all common ones), a swapped copy otherwise. */
function littleEndianBytes(matrix: Float32Array): Uint8Array {
  const view = new Uint8Array(matrix.buffer, matrix.byteOffset, matrix.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return view;
  const copy = view.slice();
  swapBytes32(copy);
  return copy;
}

function swapBytes32(bytes: Uint8Array): void {
  for (let i = 0; i + 3 < bytes.length; i += 4) {
    const a = bytes[i]!;
    const b = bytes[i + 1]!;
    bytes[i] = bytes[i + 3]!;
    bytes[i + 1] = bytes[i + 2]!;
    bytes[i + 2] = b;
    bytes[i + 3] = a;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
