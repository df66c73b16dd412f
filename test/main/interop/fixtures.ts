/** The committed PyTorch fixtures (test/fixtures/torch, made by make-fixtures.py) and their fixed input. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const FIXTURE_DIRECTORY = join(import.meta.dirname, '../../fixtures/torch');

export interface ExpectedOutputs {
  readonly features: number[][];
  readonly output: number[][];
}

export interface FixtureExpectation {
  readonly inputShape: [number, number, number, number];
  readonly query: ExpectedOutputs;
  readonly key?: ExpectedOutputs;
  readonly queueShape?: [number, number];
  readonly queuePointer?: number;
}

export const EXPECTED = JSON.parse(readFileSync(join(FIXTURE_DIRECTORY, 'expected.json'), 'utf8')) as { torch: string; fixtures: Record<string, FixtureExpectation> };

/** The checkpoint bytes as torch.save wrote them (the fixtures are gzipped to keep the repository small). */
export function fixtureBytes(name: string): Buffer {
  return gunzipSync(readFileSync(join(FIXTURE_DIRECTORY, name)));
}

/** make-fixtures.py's fixed_input, NCHW: x[i] = sin(0.37 i) + 0.5 cos(0.11 i), in float64 then float32. */
export function fixedInputNchw(shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(0.37 * i) + 0.5 * Math.cos(0.11 * i);
  return x;
}

/** NCHW -> NHWC (our encoder's layout). */
export function toNhwc(x: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n!; b++) for (let ch = 0; ch < c!; ch++) for (let y = 0; y < h!; y++) for (let xx = 0; xx < w!; xx++) {
    out[((b * h! + y) * w! + xx) * c! + ch] = x[((b * c! + ch) * h! + y) * w! + xx]!;
  }
  return out;
}

export function maxAbsDifference(a: ArrayLike<number>, b: readonly number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
