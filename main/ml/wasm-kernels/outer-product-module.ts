/**
 * A WebAssembly SIMD kernel that sums outer products of rows, assembled here (issue 9), working in
 * place on the tfjs wasm backend's memory, which it imports:
 *
 *   C[i, j] += sum over (p1, p2, p3) of A[p1, p2, p3][i] * B[p1, p2, p3][j]
 *
 * where row (p1, p2, p3) of A starts at a + p1*as1 + p2*as2 + p3*as3 bytes, and likewise for B.
 * This is dW of a convolution without im2col and without transposing anything (direct-dw.ts):
 * for one filter tap, A's rows are the NHWC pixels of x that the tap reads (contiguous channels,
 * a constant stride along a row of outputs, another between rows and between images) and B's
 * are dy's pixels, so dW[tap] = sum over output pixels of x[pixel + tap] (outer) dy[pixel].
 * XNNPACK's GEMM needs A^T and a packed B, both new every step: the transposes and the packing
 * were most of the direct dW's time on thin layers (3x3 16->16 @32: 19.5 ms a call, against
 * 7 ms for the forward conv of the same FLOPs).
 *
 * The microkernel keeps a 4 x 8 block of C in eight v128 accumulators; each row step loads four
 * A values and eight B values, splats the four A lanes (i8x16.shuffle, one pshufd) and does 32
 * multiply-adds. Rows of C are ldc bytes apart. m must be a multiple of 4, n of 8, k1..k3 >= 1.
 */
import {
  countedLoop, F32X4_ADD, F32X4_MUL, functionCode, get, i32, I32, I32_ADD, I32_MUL, I32_SHR_U, i32Procedure, MAGIC_AND_VERSION, mem,
  name, section, set, simd, V128, V128_LOAD, V128_STORE, vector, webAssemblyApi,
} from '../wasm/assembly.js';

const I8X16_SHUFFLE = 0x0d;

/** How many convs each route ran on this kernel: which route a conv took is not visible in its result (tests, benches). */
export const outerProductRuns = { directDw: 0, winogradDw: 0 };

export interface OuterProductKernel {
  /** See the file comment; every pointer and stride in bytes. */
  readonly accumulate: (
    a: number, b: number, c: number, m: number, n: number, k1: number, k2: number, k3: number,
    as1: number, as2: number, as3: number, bs1: number, bs2: number, bs3: number, ldc: number,
  ) => void;
}

/** i8x16.shuffle of (v, v) that repeats lane `lane` of f32x4 v in all four lanes. */
const splatLane = (lane: number): number[] => [...simd(I8X16_SHUFFLE), ...Array.from({ length: 16 }, (_, k) => lane * 4 + (k % 4))];

function accumulateFunction(): number[] {
  const [a, b, c, m, n, k1, k2, k3, as1, as2, as3, bs1, bs2, bs3, ldc] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] as const;
  // i32 locals 15..28, then v128 locals: acc[l * 2 + h] (C row i0 + l, columns j0 + 4h .. +3) and four more.
  const [i0, j0, p1, p2, p3, pa1, pb1, pa2, pb2, pa3, pb3, cRow, mBytes, nBytes] = [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28] as const;
  const ints = 14;
  const acc: readonly number[] = [29, 30, 31, 32, 33, 34, 35, 36];
  const [va, vb0, vb1, s] = [37, 38, 39, 40] as const;
  const rowAddress = (l: number): number[] => [...get(cRow), ...(l === 0 ? [] : [...get(ldc), ...i32(l), I32_MUL, I32_ADD])];

  const step = [
    ...get(pa3), ...simd(V128_LOAD), ...mem(2), ...set(va),
    ...get(pb3), ...simd(V128_LOAD), ...mem(2), ...set(vb0),
    ...get(pb3), ...simd(V128_LOAD), ...mem(2, 16), ...set(vb1),
    ...[0, 1, 2, 3].flatMap((l) => [
      ...get(va), ...get(va), ...splatLane(l), ...set(s),
      ...get(acc[l * 2]!), ...get(s), ...get(vb0), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(acc[l * 2]!),
      ...get(acc[l * 2 + 1]!), ...get(s), ...get(vb1), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(acc[l * 2 + 1]!),
    ]),
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
    ...[0, 1, 2, 3].flatMap((l) => [
      ...rowAddress(l), ...simd(V128_LOAD), ...mem(2), ...set(acc[l * 2]!),
      ...rowAddress(l), ...simd(V128_LOAD), ...mem(2, 16), ...set(acc[l * 2 + 1]!),
    ]),
    ...get(a), ...get(i0), I32_ADD, ...set(pa1), ...get(b), ...get(j0), I32_ADD, ...set(pb1),
    ...countedLoop(p1, k1, middle),
    ...[0, 1, 2, 3].flatMap((l) => [
      ...rowAddress(l), ...get(acc[l * 2]!), ...simd(V128_STORE), ...mem(2),
      ...rowAddress(l), ...get(acc[l * 2 + 1]!), ...simd(V128_STORE), ...mem(2, 16),
    ]),
  ];
  const body = [
    ...get(m), ...i32(4), I32_MUL, ...set(mBytes), ...get(n), ...i32(4), I32_MUL, ...set(nBytes),
    ...countedLoop(i0, mBytes, countedLoop(j0, nBytes, tile, 32), 16),
  ];
  return functionCode([[ints, I32], [12, V128]], body);
}

function moduleBytes(): Uint8Array {
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(1, vector([i32Procedure(15)])),
    // The backend's memory, imported: limits flag 0 and minimum 0 accept it at any size or maximum.
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vector([[0]])),
    ...section(7, vector([[...name('accumulate'), 0x00, 0]])),
    ...section(10, vector([accumulateFunction()])),
  ]);
}

let compiled: object | null | undefined;
const instances = new WeakMap<object, OuterProductKernel | null>();

/** The kernel on `memory` (a WebAssembly.Memory), or null where this runtime has no WebAssembly SIMD. */
export function outerProductKernel(memory: object): OuterProductKernel | null {
  const api = webAssemblyApi();
  if (api === undefined) return null;
  if (compiled === undefined) {
    try {
      compiled = new api.Module(moduleBytes());
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  let kernel = instances.get(memory);
  if (kernel === undefined) {
    try {
      kernel = new api.Instance(compiled, { env: { memory } }).exports as unknown as OuterProductKernel;
    } catch {
      kernel = null; // e.g. the threaded backend's shared memory, which this module's import does not declare
    }
    instances.set(memory, kernel);
  }
  return kernel;
}
