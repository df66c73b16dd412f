/**
 * Two WebAssembly SIMD GEMM kernels, assembled here (issue 9), working in place on the tfjs wasm
 * backend's memory, which the module imports. Neither packs or transposes its operands, which
 * XNNPACK's GEMM does on every call for a "weights" operand that is new every step (dy in dW,
 * the transformed filter planes in Winograd): on the narrow layers that packing, and the
 * transposes dW needed for it, were most of the time.
 *
 * `accumulate`: sums of outer products of rows,
 *   C[i, j] += sum over (p1, p2, p3) of A[p1, p2, p3][i] * B[p1, p2, p3][j]
 * where row (p1, p2, p3) of A starts at a + p1*as1 + p2*as2 + p3*as3 bytes, and likewise for B.
 * That is dW of a convolution without im2col (direct-dw.ts): for one filter tap, A's rows are the
 * NHWC pixels of x that the tap reads (contiguous channels, a constant stride along a row of
 * outputs, another between rows and between images) and B's are dy's pixels, so dW[tap] = sum
 * over output pixels of x[pixel + tap] (outer) dy[pixel]; and Winograd's dW planes, V^T D.
 * A 4 x 8 block of C stays in eight v128 accumulators; each row step loads four A values and
 * eight B values, splats the four A lanes (i8x16.shuffle, one pshufd) and does 32 multiply-adds.
 * m must be a multiple of 4, n of 8, k1..k3 >= 1.
 *
 * `multiply`: C [m, n] = A [m, k] B [k, n], rows lda, ldb, ldc bytes apart: Winograd's forward
 * planes M = V U. A 4 x 8 block of C in eight accumulators; each step of k splat-loads four A
 * values (v128.load32_splat, one per row) and loads eight B values. m a multiple of 4, n of 8,
 * k >= 1.
 *
 * Measured on this 2-core machine (`.prof` microbenchmark, contiguous rows): 20-26 GFLOP/s from
 * [16, 16] to [512, 512] blocks of C, against 13-21 for XNNPACK's GEMM.
 */
import {
  countedLoop, F32X4_ADD, F32X4_MUL, f32x4, functionCode, I8X16_SHUFFLE, instanceOnMemory, get, i32, I32, I32_ADD, I32_MUL, I32_SHR_U, i32Procedure,
  mem, set, simd, V128, V128_LOAD, V128_STORE, memoryModule,
} from '../wasm/assembly.js';

const V128_LOAD32_SPLAT = 0x09;

/** How many convs each route ran on this kernel: which route a conv took is not visible in its result (tests, benches). */
export const gemmRuns = { directDw: 0, winogradDw: 0, winogradForward: 0, matmul: 0 };

export interface GemmKernels {
  /** See the file comment; every pointer and stride in bytes. */
  readonly accumulate: (
    a: number, b: number, c: number, m: number, n: number, k1: number, k2: number, k3: number,
    as1: number, as2: number, as3: number, bs1: number, bs2: number, bs3: number, ldc: number,
  ) => void;
  /** See the file comment; every pointer and stride in bytes. */
  readonly multiply: (a: number, b: number, c: number, m: number, n: number, k: number, lda: number, ldb: number, ldc: number) => void;
}

/** i8x16.shuffle of (v, v) that repeats lane `lane` of f32x4 v in all four lanes. */
const splatLane = (lane: number): number[] => [...simd(I8X16_SHUFFLE), ...Array.from({ length: 16 }, (_, k) => lane * 4 + (k % 4))];

/** The address of row r of a block of C: local cRow plus r times local ldc (bytes). */
const rowsOfC = (cRow: number, ldc: number) => (r: number): number[] => [...get(cRow), ...(r === 0 ? [] : [...get(ldc), ...i32(r), I32_MUL, I32_ADD])];

/** acc[2r] += s * vb0 and acc[2r + 1] += s * vb1: row r of a 4 x 8 block of C, on v128 locals. */
const multiplyAddRow = (acc: readonly number[], r: number, s: number, vb0: number, vb1: number): number[] => [
  ...get(acc[r * 2]!), ...get(s), ...get(vb0), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(acc[r * 2]!),
  ...get(acc[r * 2 + 1]!), ...get(s), ...get(vb1), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(acc[r * 2 + 1]!),
];

/** Loads the 4 x 8 block of C into acc, or stores acc to it: row r at rowAddress(r), its two vectors 16 bytes apart. */
const blockOfC = (acc: readonly number[], rowAddress: (r: number) => number[], op: 'load' | 'store'): number[] => [0, 1, 2, 3].flatMap((r) => [0, 1].flatMap((h) => (op === 'load'
  ? [...rowAddress(r), ...simd(V128_LOAD), ...mem(2, 16 * h), ...set(acc[r * 2 + h]!)]
  : [...rowAddress(r), ...get(acc[r * 2 + h]!), ...simd(V128_STORE), ...mem(2, 16 * h)])));

function accumulateFunction(): number[] {
  const [a, b, c, m, n, k1, k2, k3, as1, as2, as3, bs1, bs2, bs3, ldc] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] as const;
  // i32 locals 15..28, then v128 locals: acc[l * 2 + h] (C row i0 + l, columns j0 + 4h .. +3) and four more.
  const [i0, j0, p1, p2, p3, pa1, pb1, pa2, pb2, pa3, pb3, cRow, mBytes, nBytes] = [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28] as const;
  const ints = 14;
  const acc: readonly number[] = [29, 30, 31, 32, 33, 34, 35, 36];
  const [va, vb0, vb1, s] = [37, 38, 39, 40] as const;
  const rowAddress = rowsOfC(cRow, ldc);

  const step = [
    ...get(pa3), ...simd(V128_LOAD), ...mem(2), ...set(va),
    ...get(pb3), ...simd(V128_LOAD), ...mem(2), ...set(vb0),
    ...get(pb3), ...simd(V128_LOAD), ...mem(2, 16), ...set(vb1),
    ...[0, 1, 2, 3].flatMap((l) => [...get(va), ...get(va), ...splatLane(l), ...set(s), ...multiplyAddRow(acc, l, s, vb0, vb1)]),
    ...get(pa3), ...get(as3), I32_ADD, ...set(pa3),
    ...get(pb3), ...get(bs3), I32_ADD, ...set(pb3),
  ];
  const inner = [...get(pa2), ...set(pa3), ...get(pb2), ...set(pb3), ...countedLoop(p3, k3, step),
    ...get(pa2), ...get(as2), I32_ADD, ...set(pa2), ...get(pb2), ...get(bs2), I32_ADD, ...set(pb2)];
  const middle = [...get(pa1), ...set(pa2), ...get(pb1), ...set(pb2), ...countedLoop(p2, k2, inner),
    ...get(pa1), ...get(as1), I32_ADD, ...set(pa1), ...get(pb1), ...get(bs1), I32_ADD, ...set(pb1)];
  const tile = [
    // C rows i0/4 .. +3 (i0 counts bytes of A's row), columns j0 bytes on.
    ...get(c), ...get(i0), ...i32(2), I32_SHR_U, ...get(ldc), I32_MUL, I32_ADD, ...get(j0), I32_ADD, ...set(cRow),
    ...blockOfC(acc, rowAddress, 'load'),
    ...get(a), ...get(i0), I32_ADD, ...set(pa1), ...get(b), ...get(j0), I32_ADD, ...set(pb1),
    ...countedLoop(p1, k1, middle),
    ...blockOfC(acc, rowAddress, 'store'),
  ];
  const body = [
    ...get(m), ...i32(4), I32_MUL, ...set(mBytes), ...get(n), ...i32(4), I32_MUL, ...set(nBytes),
    ...countedLoop(i0, mBytes, countedLoop(j0, nBytes, tile, 32), 16),
  ];
  return functionCode([[ints, I32], [12, V128]], body);
}

function multiplyFunction(): number[] {
  const [a, b, c, m, n, k, lda, ldb, ldc] = [0, 1, 2, 3, 4, 5, 6, 7, 8] as const;
  // i32 locals 9..19, then v128: acc[r * 2 + h] (C row i0 + r, columns j0 + 4h .. +3), vb0, vb1, s.
  const [i0, j0, p, pa, pb, cRow, mBytes, nBytes, lda2, lda3, aRow] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] as const;
  const acc: readonly number[] = [20, 21, 22, 23, 24, 25, 26, 27];
  const [vb0, vb1, s] = [28, 29, 30] as const;
  const aAddress = (r: number): number[] => [...get(pa), ...(r === 0 ? [] : [...get([lda, lda, lda2, lda3][r]!), I32_ADD])];
  const cRowAddress = rowsOfC(cRow, ldc);
  const step = [
    ...get(pb), ...simd(V128_LOAD), ...mem(2), ...set(vb0),
    ...get(pb), ...simd(V128_LOAD), ...mem(2, 16), ...set(vb1),
    ...[0, 1, 2, 3].flatMap((r) => [...aAddress(r), ...simd(V128_LOAD32_SPLAT), ...mem(2), ...set(s), ...multiplyAddRow(acc, r, s, vb0, vb1)]),
    ...get(pa), ...i32(4), I32_ADD, ...set(pa),
    ...get(pb), ...get(ldb), I32_ADD, ...set(pb),
  ];
  const tile = [
    // C rows i0/16*4 .. +3 (i0 counts 16 bytes per group of four rows), columns j0 bytes on.
    ...get(i0), ...i32(2), I32_SHR_U, ...set(aRow), // the tile's first row index
    ...get(c), ...get(aRow), ...get(ldc), I32_MUL, I32_ADD, ...get(j0), I32_ADD, ...set(cRow),
    ...acc.flatMap((local) => [...f32x4(0), ...set(local)]),
    ...get(a), ...get(aRow), ...get(lda), I32_MUL, I32_ADD, ...set(pa), ...get(b), ...get(j0), I32_ADD, ...set(pb),
    ...countedLoop(p, k, step),
    ...blockOfC(acc, cRowAddress, 'store'),
  ];
  const body = [
    ...get(m), ...i32(4), I32_MUL, ...set(mBytes), ...get(n), ...i32(4), I32_MUL, ...set(nBytes),
    ...get(lda), ...i32(2), I32_MUL, ...set(lda2), ...get(lda), ...i32(3), I32_MUL, ...set(lda3),
    // Columns outer: a [k, 8] panel of B is reused by every row block while it is in cache.
    ...countedLoop(j0, nBytes, countedLoop(i0, mBytes, tile, 16), 32),
  ];
  return functionCode([[11, I32], [11, V128]], body);
}

function moduleBytes(): Uint8Array {
  return memoryModule([
    { name: 'accumulate', type: i32Procedure(15), code: accumulateFunction() },
    { name: 'multiply', type: i32Procedure(9), code: multiplyFunction() },
  ]);
}

/** The kernels on `memory` (a WebAssembly.Memory), or null where this runtime or memory cannot run them. */
export function gemmKernels(memory: object): GemmKernels | null {
  return instanceOnMemory('gemm', moduleBytes, memory) as GemmKernels | null;
}
