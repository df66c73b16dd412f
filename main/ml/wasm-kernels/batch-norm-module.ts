/**
 * The per-element passes of a training-mode BatchNorm as a WebAssembly SIMD module, assembled
 * here (issue 9), working in place on the tfjs wasm backend's memory, which it imports.
 *
 * Through tfjs ops, one split BatchNorm took about 10 kernel calls forward and 15 backward
 * (average-pool cascades for the means, broadcasts, element-wise kernels); at width 1/4 those
 * were a fifth of a training step although each pass is a few hundred thousand additions.
 * Here the forward is two reduction passes and one affine pass, the backward one reduction and
 * one affine pass; batch-norm.ts does the per-channel arithmetic between them.
 *
 * Every function takes one group of `rows` rows of `c` channels (NHWC: a row is a pixel),
 * c a multiple of 4 and rows >= 1, pointers in bytes. Per-channel vectors are float32 [c];
 * sums are float64 [c] and accumulated onto (the caller zeroes them): float64 keeps a sum over
 * thousands of rows as exact as the pairwise average pools it replaces.
 */
import {
  countedLoop, F32X4_ADD, F32X4_GT, F32X4_MAX, F32X4_MUL, F32X4_SUB, F64X2_ADD, f32x4, V128_AND, functionCode, I8X16_SHUFFLE, instanceOnMemory, get, i32, I32, I32_ADD, I32_MUL,
  i32Procedure, mem, set, simd, V128, V128_LOAD, V128_STORE, memoryModule,
} from '../wasm/assembly.js';

const F64X2_PROMOTE_LOW_F32X4 = 0x5f;

export interface BatchNormPasses {
  /** s[c] += sum over rows of x[r, c]. */
  readonly sums: (x: number, rows: number, c: number, s: number) => void;
  /** s[c] += sum over rows of (x[r, c] - mean[c])^2. */
  readonly centeredSquares: (x: number, rows: number, c: number, mean: number, s: number) => void;
  /** s1[c] += sum of dy[r, c];  s2[c] += sum of dy[r, c] * (x[r, c] - mean[c]). */
  readonly gradientSums: (dy: number, x: number, rows: number, c: number, mean: number, s1: number, s2: number) => void;
  /** y[r, c] = (x[r, c] - mean[c]) * scale[c] + shift[c]. */
  readonly affine: (x: number, y: number, rows: number, c: number, mean: number, scale: number, shift: number) => void;
  /** y[r, c] = max(0, (x[r, c] - mean[c]) * scale[c] + shift[c]): the ReLU after the normalisation. */
  readonly affineRelu: (x: number, y: number, rows: number, c: number, mean: number, scale: number, shift: number) => void;
  /** y[r, c] = max(0, (x[r, c] - mean[c]) * scale[c] + shift[c] + residual[r, c]). */
  readonly affineAddRelu: (x: number, residual: number, y: number, rows: number, c: number, mean: number, scale: number, shift: number) => void;
  /** out[r, c] = y[r, c] > 0 ? dy[r, c] : 0: the ReLU's backward, masked by its output. */
  readonly reluMask: (dy: number, y: number, out: number, rows: number, c: number) => void;
  /** dx[r, c] = dy[r, c] * a[c] + (x[r, c] - mean[c]) * b[c] + shift[c]. */
  readonly affine2: (dy: number, x: number, dx: number, rows: number, c: number, a: number, mean: number, b: number, shift: number) => void;
}

const load = (address: number[], offset = 0): number[] => [...address, ...simd(V128_LOAD), ...mem(2, offset)];
/** f64x2 of lanes 2 and 3 of the f32x4 on the stack (lanes 0 and 1: promote it directly). */
const promoteHigh = [...simd(I8X16_SHUFFLE), 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15, ...simd(F64X2_PROMOTE_LOW_F32X4)];

/**
 * A reduction over the rows of one group: rows outer, blocks of four channels inner, each
 * block's float64 sums read, added to and written back in memory (an L1-resident [c] array).
 * Rows outer reads x once, in order: with channel blocks outer and register accumulators, every
 * block streamed all rows again (16 passes over an 8 MB activation at 64 channels, slower than
 * the tfjs ops at full width).
 * Params: `pointers` row pointers, rows, c, `vectors` per-channel float32 vectors, then one
 * float64 sum per term. `terms(row, vec)` gives, per sum, code that leaves an f32x4 on the stack:
 * row(k) loads the current block of pointer k, vec(k) per-channel vector k's block.
 */
function reduction(pointers: number, vectors: number, terms: (row: (k: number) => number[], vec: (k: number) => number[]) => number[][]): number[] {
  const rows = pointers, c = pointers + 1;
  const count = terms(() => [], () => []).length;
  const params = pointers + 2 + vectors + count;
  const [r, cb, cBytes, rowStart] = [params, params + 1, params + 2, params + 3];
  const temp = params + 4; // v128
  const sumAddress = (k: number): number[] => [...get(pointers + 2 + vectors + k), ...get(cb), ...i32(2), I32_MUL, I32_ADD];
  const code = terms(
    (k) => load([...get(k), ...get(rowStart), I32_ADD, ...get(cb), I32_ADD]),
    (k) => load([...get(pointers + 2 + k), ...get(cb), I32_ADD]),
  );
  const inner = code.flatMap((term, k) => [
    ...term, ...set(temp),
    ...sumAddress(k), ...sumAddress(k), ...simd(V128_LOAD), ...mem(3), ...get(temp), ...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD),
    ...simd(V128_STORE), ...mem(3),
    ...sumAddress(k), ...sumAddress(k), ...simd(V128_LOAD), ...mem(3, 16), ...get(temp), ...get(temp), ...promoteHigh, ...simd(F64X2_ADD),
    ...simd(V128_STORE), ...mem(3, 16),
  ]);
  const body = [
    ...get(c), ...i32(4), I32_MUL, ...set(cBytes),
    ...countedLoop(r, rows, [...get(r), ...get(cBytes), I32_MUL, ...set(rowStart), ...countedLoop(cb, cBytes, inner, 16)]),
  ];
  return functionCode([[4, I32], [1, V128]], body);
}

/**
 * An element-wise pass over rows x c. Params: `inputs` pointers, the output pointer, rows, c,
 * `vectors` per-channel vectors. `value(input, vec)` leaves the output's f32x4 on the stack.
 */
function elementwise(inputs: number, vectors: number, value: (input: (k: number) => number[], vec: (k: number) => number[]) => number[]): number[] {
  const out = inputs, rows = inputs + 1, c = inputs + 2;
  const params = inputs + 3 + vectors;
  const [r, cb, cBytes, rowStart] = [params, params + 1, params + 2, params + 3];
  const at = (pointer: number): number[] => [...get(pointer), ...get(rowStart), I32_ADD, ...get(cb), I32_ADD];
  const inner = [
    ...at(out),
    ...value((k) => load(at(k)), (k) => load([...get(inputs + 3 + k), ...get(cb), I32_ADD])),
    ...simd(V128_STORE), ...mem(2),
  ];
  const body = [
    ...get(c), ...i32(4), I32_MUL, ...set(cBytes),
    ...countedLoop(r, rows, [...get(r), ...get(cBytes), I32_MUL, ...set(rowStart), ...countedLoop(cb, cBytes, inner, 16)]),
  ];
  return functionCode([[4, I32]], body);
}

const mul = simd(F32X4_MUL), add = simd(F32X4_ADD), sub = simd(F32X4_SUB);
const relu = [...f32x4(0), ...simd(F32X4_MAX)];
/** (x - mean) * scale + shift for input 0 and vectors 0-2: the forward's affine pass, before any ReLU. */
const normalised = (input: (k: number) => number[], vec: (k: number) => number[]): number[] => [...input(0), ...vec(0), ...sub, ...vec(1), ...mul, ...vec(2), ...add];

function moduleBytes(): Uint8Array {
  return memoryModule([
    { name: 'sums', type: i32Procedure(4), code: reduction(1, 0, (row) => [row(0)]) },
    { name: 'centeredSquares', type: i32Procedure(5), code: reduction(1, 1, (row, vec) => [[...row(0), ...vec(0), ...sub, ...row(0), ...vec(0), ...sub, ...mul]]) },
    { name: 'gradientSums', type: i32Procedure(7), code: reduction(2, 1, (row, vec) => [row(0), [...row(0), ...row(1), ...vec(0), ...sub, ...mul]]) },
    { name: 'affine', type: i32Procedure(7), code: elementwise(1, 3, normalised) },
    { name: 'affineRelu', type: i32Procedure(7), code: elementwise(1, 3, (input, vec) => [...normalised(input, vec), ...relu]) },
    { name: 'affineAddRelu', type: i32Procedure(8), code: elementwise(2, 3, (input, vec) => [...normalised(input, vec), ...input(1), ...add, ...relu]) },
    { name: 'reluMask', type: i32Procedure(5), code: elementwise(2, 0, (input) => [...input(0), ...input(1), ...f32x4(0), ...simd(F32X4_GT), ...simd(V128_AND)]) },
    {
      name: 'affine2', type: i32Procedure(9),
      code: elementwise(2, 4, (input, vec) => [...input(0), ...vec(0), ...mul, ...input(1), ...vec(1), ...sub, ...vec(2), ...mul, ...add, ...vec(3), ...add]),
    },
  ]);
}

/** The passes on `memory` (a WebAssembly.Memory), or null where this runtime or memory cannot run them. */
export function batchNormPasses(memory: object): BatchNormPasses | null {
  return instanceOnMemory('batch-norm', moduleBytes, memory) as BatchNormPasses | null;
}
