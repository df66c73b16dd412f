/**
 * Checkpoint files: one self-verifying binary file per save.
 *
 *   "MOCOCKPT" | u32 format version | u32 header bytes | header JSON (UTF-8) | tensor data (f32 LE) | SHA-256 of all before it
 *
 * The header holds the run's config, the training-state meta (epoch, step, queue pointer, RNG
 * states) and the tensor manifest (name, shape, byte offset). Files are written atomically
 * (main/core/atomic-file.ts) as `step-000000123.ckpt`: at step 0 (the random start), every epoch, every
 * `checkpointMinutes` and on stop, and kept spread over the run (checkpointStepsToKeep); loading verifies magic, version, lengths and
 * the digest, so a truncated or corrupted file is refused with a clear error and the previous
 * good checkpoint is used instead (`loadLatestCheckpoint`).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { NamedTensorData, TrainingState, TrainingStateMeta } from '../ml/training-state.js';

const MAGIC = Buffer.from('MOCOCKPT', 'ascii');
const FORMAT_VERSION = 1;
const DIGEST_BYTES = 32;
const FILE_PATTERN = /^step-(\d{9})\.ckpt$/;

interface Header {
  readonly config: unknown;
  readonly meta: TrainingStateMeta;
  readonly tensors: readonly { name: string; shape: number[]; offset: number; length: number }[];
  readonly savedAt: string;
}

export interface Checkpoint {
  readonly path: string;
  readonly config: unknown;
  readonly state: TrainingState;
  readonly savedAt: string;
}

/** Named by global step, zero-padded so that name order is time order. */
export function checkpointFileName(globalStep: number): string {
  return `step-${String(globalStep).padStart(9, '0')}.ckpt`;
}

export function encodeCheckpoint(config: unknown, state: TrainingState): Buffer {
  let offset = 0;
  const manifest = state.tensors.map((t) => {
    const entry = { name: t.name, shape: [...t.shape], offset, length: t.values.length };
    offset += t.values.length * 4;
    return entry;
  });
  const header: Header = { config, meta: state.meta, tensors: manifest, savedAt: new Date().toISOString() };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.alloc(MAGIC.length + 8);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(FORMAT_VERSION, MAGIC.length);
  fixed.writeUInt32LE(headerBytes.length, MAGIC.length + 4);
  const data = Buffer.alloc(offset);
  for (let i = 0; i < state.tensors.length; i++) {
    const t = state.tensors[i]!;
    const bytes = Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength);
    bytes.copy(data, manifest[i]!.offset); // native order; checked little-endian below
  }
  const body = Buffer.concat([fixed, headerBytes, data]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export function decodeCheckpoint(bytes: Buffer, path: string): Checkpoint {
  const fail = (reason: string): never => {
    throw new Error(`Checkpoint ${path} is unusable: ${reason}`);
  };
  if (bytes.length < MAGIC.length + 8 + DIGEST_BYTES) fail(`only ${bytes.length} bytes (truncated)`);
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) fail('not a MoCo Studio checkpoint (bad magic)');
  const version = bytes.readUInt32LE(MAGIC.length);
  if (version !== FORMAT_VERSION) fail(`format version ${version}, this build reads ${FORMAT_VERSION}`);
  const body = bytes.subarray(0, bytes.length - DIGEST_BYTES);
  const digest = bytes.subarray(bytes.length - DIGEST_BYTES);
  if (!createHash('sha256').update(body).digest().equals(digest)) fail('checksum mismatch (truncated or corrupted)');
  const headerLength = bytes.readUInt32LE(MAGIC.length + 4);
  const headerStart = MAGIC.length + 8;
  const dataStart = headerStart + headerLength;
  if (dataStart > body.length) fail('header longer than the file');
  let header: Header;
  try {
    header = JSON.parse(body.subarray(headerStart, dataStart).toString('utf8')) as Header;
  } catch (error) {
    return fail(`header is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const data = body.subarray(dataStart);
  const tensors: NamedTensorData[] = header.tensors.map((t) => {
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (expected !== t.length || t.offset + t.length * 4 > data.length) fail(`tensor "${t.name}" does not fit its manifest`);
    // Copy into an aligned buffer: the data region's offset in the file need not be 4-aligned.
    const values = new Float32Array(t.length);
    Buffer.from(values.buffer).set(data.subarray(t.offset, t.offset + t.length * 4));
    return { name: t.name, shape: t.shape, values };
  });
  return { path, config: header.config, state: { meta: header.meta, tensors }, savedAt: header.savedAt };
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('Checkpoints are little-endian; this platform is big-endian and is not supported');
}

/** How many of the newest checkpoints are always kept: the newest plus a fall-back should it ever prove unreadable. */
export const NEWEST_KEPT = 2;

/**
 * Which checkpoint steps to keep (issue 12 item 3): spread over the run, so Neighbours can compare
 * any stage with any other and a crash loses little.
 *   - step 0, the random start (written before the first step of a fresh run);
 *   - log-spaced: the earliest checkpoint in each power-of-two range of steps [2^k, 2^(k+1));
 *   - the `newest` newest ones.
 * Stable as the run grows: a kept checkpoint is never dropped later, except one of the newest
 * that another newer checkpoint in its range replaces. About log2(steps) + 3 files in all.
 */
export function checkpointStepsToKeep(steps: readonly number[], newest = NEWEST_KEPT): Set<number> {
  const sorted = [...new Set(steps)].sort((a, b) => a - b);
  const keep = new Set<number>(sorted.slice(Math.max(0, sorted.length - newest)));
  const seenRanges = new Set<number>();
  for (const step of sorted) {
    if (step === 0) {
      keep.add(0);
      continue;
    }
    const range = Math.floor(Math.log2(step));
    if (!seenRanges.has(range)) {
      seenRanges.add(range);
      keep.add(step);
    }
  }
  return keep;
}

/**
 * Writes the checkpoint atomically (a reader sees the whole file or none), then removes the
 * checkpoints that checkpointStepsToKeep no longer keeps; a removal that fails leaves an extra file, never a missing one.
 */
export async function saveCheckpoint(directory: string, config: unknown, state: TrainingState, newest = NEWEST_KEPT): Promise<string> {
  await mkdir(directory, { recursive: true });
  const path = join(directory, checkpointFileName(state.meta.globalStep));
  await writeFileAtomic(path, encodeCheckpoint(config, state));
  const all = await listCheckpoints(directory);
  const keep = checkpointStepsToKeep(all.map(checkpointStepOf), newest);
  for (const old of all) if (!keep.has(checkpointStepOf(old))) await rm(old, { force: true });
  return path;
}

/** The global step in a checkpoint path's file name. */
export function checkpointStepOf(path: string): number {
  const match = FILE_PATTERN.exec(basename(path));
  if (!match) throw new Error(`${path} is not a checkpoint file name (step-NNNNNNNNN.ckpt)`);
  return Number(match[1]);
}

/** Checkpoint paths, oldest first. */
export async function listCheckpoints(directory: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return [];
  }
  return names.filter((n) => FILE_PATTERN.test(n)).sort().map((n) => join(directory, n));
}

export interface LatestCheckpoint {
  readonly checkpoint: Checkpoint | null;
  /** Newer checkpoints that could not be used, with the reason. */
  readonly rejected: readonly { path: string; reason: string }[];
}

/** The newest checkpoint that verifies; newer broken ones are reported, not deleted. */
export async function loadLatestCheckpoint(directory: string): Promise<LatestCheckpoint> {
  const rejected: { path: string; reason: string }[] = [];
  const paths = await listCheckpoints(directory);
  for (const path of paths.reverse()) {
    try {
      return { checkpoint: decodeCheckpoint(await readFile(path), path), rejected };
    } catch (error) {
      rejected.push({ path, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { checkpoint: null, rejected };
}
