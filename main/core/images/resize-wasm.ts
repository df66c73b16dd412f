/**
 * The two passes of resize-rgb.ts's Lanczos-3 downscale as a WebAssembly SIMD module (issue 14):
 * the first load of a folder of small images is bound by this filter on the main thread (0.75 of
 * 1.1 ms of main-thread time per 96-px JPEG in a profile of the 10k bench folder), and V8 runs the
 * JavaScript loops at about 1.5 ns per multiply-add. The module is assembled here from its
 * instructions (no toolchain, nothing downloaded), about 400 bytes.
 *
 * The arithmetic is the JavaScript passes' exactly: float64, the same products summed in the
 * same order (wasm has no fused multiply-add), rounded half to even and clamped to 0..255 as a
 * Uint8ClampedArray does, so the pixels are bit-identical (resize-rgb.spec compares the two) and
 * stored copies keep their decode pipeline version. Two lanes of f64x2 carry two row elements
 * (vertical pass) or red and green (horizontal pass; blue goes alone).
 */

/** The module's memory, as this project's TypeScript setup (no DOM library) sees it. */
export interface KernelMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** Memory offsets and sizes of one resize, all in bytes except the counts. */
export interface ResizeKernels {
  readonly memory: KernelMemory;
  /** rows[y][j] = sum over k of weights[y][k] * source[starts[y] + k][j], for j < rowLength. */
  readonly vertical: (source: number, rows: number, rowLength: number, height: number, starts: number, weights: number, taps: number) => void;
  /** out[y][x] = clamp(round(sum over k of weights[x][k] * rows[y][starts[x] + 3k .. +2])), RGB. */
  readonly horizontal: (rows: number, rowLength: number, out: number, width: number, height: number, starts: number, weights: number, taps: number) => void;
}

import {
  bump, countedLoop, F64, F64_ADD, F64_LOAD, F64_MAX, F64_MIN, F64_MUL, F64_NEAREST, F64X2_ADD, F64X2_EXTRACT,
  F64X2_MUL, F64X2_SPLAT, f64, functionCode, get, i32, I32, I32_ADD, I32_LOAD, I32_MUL, I32_SHL, I32_STORE8, i32Procedure,
  I32_TRUNC_F64_U, MAGIC_AND_VERSION, mem, name, section, set, simd, SIMD, V128, V128_CONST, V128_LOAD, V128_STORE, vector, webAssemblyApi,
} from '../../ml/wasm/assembly.js';

/** f64 on the stack -> its Uint8ClampedArray byte: round half to even, clamp to 0..255. */
const toByte = [F64_NEAREST, ...f64(0), F64_MAX, ...f64(255), F64_MIN, I32_TRUNC_F64_U];

function verticalBody(): number[] {
  // params: source 0, rows 1, rowLength 2, height 3, starts 4, weights 5, taps 6
  const [y, j, k, p, acc, wp, target, stride] = [7, 8, 9, 10, 11, 12, 13, 14];
  const tap = [
    ...get(acc), ...get(wp), F64_LOAD, ...mem(3), SIMD, F64X2_SPLAT, ...get(p), SIMD, V128_LOAD, ...mem(3), ...simd(F64X2_MUL), ...simd(F64X2_ADD), ...set(acc),
    ...bump(p, get(stride)), ...bump(wp, i32(8)),
  ];
  const element = [
    SIMD, V128_CONST, ...new Array<number>(16).fill(0), ...set(acc),
    // p = source + (starts[y] * rowLength + j) * 8; wp = weights + y * taps * 8
    ...get(0), ...get(4), ...get(y), ...i32(2), I32_SHL, I32_ADD, I32_LOAD, ...mem(2), ...get(2), I32_MUL, ...get(j), I32_ADD, ...i32(3), I32_SHL, I32_ADD, ...set(p),
    ...get(5), ...get(y), ...get(6), I32_MUL, ...i32(3), I32_SHL, I32_ADD, ...set(wp),
    ...countedLoop(k, 6, tap),
    ...get(target), ...get(j), ...i32(3), I32_SHL, I32_ADD, ...get(acc), SIMD, V128_STORE, ...mem(3),
  ];
  const row = [...get(1), ...get(y), ...get(stride), I32_MUL, I32_ADD, ...set(target), ...countedLoop(j, 2, element, 2)];
  return [...get(2), ...i32(3), I32_SHL, ...set(stride), ...countedLoop(y, 3, row)];
}

function horizontalBody(): number[] {
  // params: rows 0, rowLength 1, out 2, width 3, height 4, starts 5, weights 6, taps 7
  const [y, x, k, p, wp, rg, b, o, w, rowBase] = [8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
  const tap = [
    ...get(wp), F64_LOAD, ...mem(3), ...set(w),
    ...get(rg), ...get(w), SIMD, F64X2_SPLAT, ...get(p), SIMD, V128_LOAD, ...mem(3), ...simd(F64X2_MUL), ...simd(F64X2_ADD), ...set(rg),
    ...get(b), ...get(w), ...get(p), F64_LOAD, ...mem(3, 16), F64_MUL, F64_ADD, ...set(b),
    ...bump(p, i32(24)), ...bump(wp, i32(8)),
  ];
  const pixel = [
    SIMD, V128_CONST, ...new Array<number>(16).fill(0), ...set(rg), ...f64(0), ...set(b),
    ...get(rowBase), ...get(5), ...get(x), ...i32(2), I32_SHL, I32_ADD, I32_LOAD, ...mem(2), ...i32(3), I32_SHL, I32_ADD, ...set(p),
    ...get(6), ...get(x), ...get(7), I32_MUL, ...i32(3), I32_SHL, I32_ADD, ...set(wp),
    ...countedLoop(k, 7, tap),
    ...get(o), ...get(rg), SIMD, F64X2_EXTRACT, 0, ...toByte, I32_STORE8, ...mem(0, 0),
    ...get(o), ...get(rg), SIMD, F64X2_EXTRACT, 1, ...toByte, I32_STORE8, ...mem(0, 1),
    ...get(o), ...get(b), ...toByte, I32_STORE8, ...mem(0, 2),
    ...bump(o, i32(3)),
  ];
  const row = [...get(0), ...get(y), ...get(1), I32_MUL, ...i32(3), I32_SHL, I32_ADD, ...set(rowBase), ...countedLoop(x, 3, pixel)];
  return [...get(2), ...set(o), ...countedLoop(y, 4, row)];
}

function moduleBytes(): Uint8Array {
  const types = vector([i32Procedure(7), i32Procedure(8)]);
  const verticalLocals: [number, number][] = [[3, I32], [1, I32], [1, V128], [3, I32]]; // y j k | p | acc | wp target stride
  const horizontalLocals: [number, number][] = [[5, I32], [1, V128], [1, F64], [1, I32], [1, F64], [1, I32]]; // y x k p wp | rg | b | o | w | rowBase
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(1, types),
    ...section(3, vector([[0], [1]])),
    ...section(5, vector([[0x00, 1]])), // one memory, 1 page to start, grown on demand
    ...section(7, vector([[...name('memory'), 0x02, 0], [...name('vertical'), 0x00, 0], [...name('horizontal'), 0x00, 1]])),
    ...section(10, vector([functionCode(verticalLocals, verticalBody()), functionCode(horizontalLocals, horizontalBody())])),
  ]);
}

let kernels: ResizeKernels | null | undefined;

/** The compiled kernels, or null where WebAssembly SIMD is not available (resize-rgb.ts then runs its JavaScript passes). */
export function resizeKernels(): ResizeKernels | null {
  if (kernels !== undefined) return kernels;
  const api = webAssemblyApi();
  try {
    if (api === undefined) throw new Error('no WebAssembly');
    const exports = new api.Instance(new api.Module(moduleBytes())).exports as unknown as ResizeKernels;
    kernels = { memory: exports.memory, vertical: exports.vertical, horizontal: exports.horizontal };
  } catch {
    kernels = null;
  }
  return kernels;
}
