/**
 * The transforms of a Winograd convolution F(m x m, 3 x 3) and of its dW as a WebAssembly SIMD module
 * assembled here (issue 9), working in place on the tfjs wasm backend's own memory, which the
 * module imports: no copies in or out.
 *
 * A 3x3 stride-1 convolution computed directly costs 9 multiply-adds per output and channel pair.
 * Winograd's minimal filtering (Lavin and Gray 2016) computes an m x m tile of outputs from an
 * alpha x alpha (alpha = m + 2) tile of inputs with alpha^2 products: for each of the alpha^2
 * points xi, one GEMM  M_xi [tiles, Co] = V_xi [tiles, Ci] x U_xi [Ci, Co], where
 *   U = G g G^T (filter transform), V = B^T d B (input transform), Y = A^T M A (output transform).
 * F(2,3) does 16 products per 4 outputs (2.25x fewer than direct), F(4,3) 36 per 16 (4x fewer).
 * The GEMMs run on XNNPACK (winograd.ts); the transforms, only additions and a few constant
 * products, are generated here as straight-line code, four channels to a vector (NHWC and HWIO
 * keep channels contiguous). The alpha^2 planes are separate tensors; a table of their byte
 * offsets in memory tells each function where plane xi lives.
 */
import {
  countedLoop, F32_STORE, F32X4_ADD, F32X4_EXTRACT_LANE, I32_SHR_U, F32X4_MUL, F32X4_NEG, F32X4_SUB, f32x4, functionCode, get, i32, I32, I32_ADD,
  I32_AND, I32_LOAD, I32_LT_U, I32_MUL, I32_SUB, i32Procedure, IF, END, mem, SELECT, set, simd, V128, V128_LOAD, V128_STORE, instanceOnMemory,
  memoryModule,
} from '../wasm/assembly.js';

/** Output tile sizes with generated transforms. */
export type WinogradTile = 2 | 4;

interface Matrices {
  readonly bt: readonly (readonly number[])[]; // alpha x alpha
  readonly g: readonly (readonly number[])[]; // alpha x 3
  readonly at: readonly (readonly number[])[]; // m x alpha
}

/** Interpolation points 0, 1, -1 and infinity. */
const F2: Matrices = {
  bt: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  g: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  at: [[1, 1, 1, 0], [0, 1, -1, -1]],
};

/** Points 0, 1, -1, 2, -2 and infinity (Lavin and Gray's F(4x4, 3x3)). */
const F4: Matrices = {
  bt: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  g: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  at: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};

/** Byte offsets and counts; every count must be at least 1 and every channel count a multiple of 4. */
export interface WinogradTransforms {
  /** U[xi][i][o] = (G g[:, :, i, o] G^T)[xi] for HWIO g [3, 3, ci, co]. */
  readonly filter: (g: number, ci: number, co: number, table: number) => void;
  /** V[xi][t][c] for the tiles t = (b, th, tw) of NHWC x [n, h, w, c]; rows/columns outside x read as zero. */
  readonly input: (x: number, n: number, h: number, w: number, c: number, tilesH: number, tilesW: number, top: number, left: number, table: number) => void;
  /** y [n, ho, wo, c] from M[xi][t][c]; outputs past ho or wo are not written. */
  readonly output: (table: number, y: number, n: number, ho: number, wo: number, c: number, tilesH: number, tilesW: number) => void;
  /** D[xi][t][c] = (A dy A^T)[xi] for the m x m tiles of NHWC dy [n, h, w, c] (top and left 0): dW's gradient transform. */
  readonly gradient: (dy: number, n: number, h: number, w: number, c: number, tilesH: number, tilesW: number, top: number, left: number, table: number) => void;
  /** `input` into transposed planes V^T[xi][c][t], for dW's GEMMs. */
  readonly inputTransposed: (x: number, n: number, h: number, w: number, c: number, tilesH: number, tilesW: number, top: number, left: number, table: number) => void;
  /** HWIO dW [3, 3, ci, co] = G^T S[:, i, o] G for the planes S[xi][i][o]. */
  readonly weights: (table: number, g: number, ci: number, co: number) => void;
}

/** Code that leaves sum over i of coeffs[i] * term(i) (v128) on the stack; additions where a coefficient is +-1. */
function combination(coeffs: readonly number[], term: (i: number) => number[]): number[] {
  const code: number[] = [];
  for (let i = 0; i < coeffs.length; i++) {
    const c = coeffs[i]!;
    if (c === 0) continue;
    const first = code.length === 0;
    const t = term(i);
    if (c === 1) code.push(...t, ...(first ? [] : simd(F32X4_ADD)));
    else if (c === -1) code.push(...t, ...simd(first ? F32X4_NEG : F32X4_SUB));
    else code.push(...t, ...f32x4(c), ...simd(F32X4_MUL), ...(first ? [] : simd(F32X4_ADD)));
  }
  return code.length === 0 ? f32x4(0) : code;
}

/**
 * out = L X R^T for a p x q tile X of v128 locals: first T = L X into locals, then each output
 * (k, l) = sum over j of R[l][j] T[k][j], handed to `store` as code that leaves it on the stack.
 */
function transform2d(
  left: readonly (readonly number[])[], right: readonly (readonly number[])[], x: (i: number, j: number) => number,
  t: (k: number, j: number) => number, store: (k: number, l: number, value: number[]) => number[],
): number[] {
  const q = right[0]!.length;
  const code: number[] = [];
  left.forEach((row, k) => { for (let j = 0; j < q; j++) code.push(...combination(row, (i) => get(x(i, j))), ...set(t(k, j))); });
  left.forEach((_, k) => { right.forEach((rrow, l) => { code.push(...store(k, l, combination(rrow, (j) => get(t(k, j))))); }); });
  return code;
}

/** Hands out local indices after the parameters. */
class Locals {
  private next: number;
  readonly runs: [number, number][] = [];
  constructor(params: number) { this.next = params; }
  take(count: number, type: number): number[] {
    this.runs.push([count, type]);
    const first = this.next;
    this.next += count;
    return Array.from({ length: count }, (_, i) => first + i);
  }
}

const planeStore = (table: number, xi: number, offset: number[], value: number[]): number[] => [
  ...get(table), I32_LOAD, ...mem(2, 4 * xi), ...offset, ...value, ...simd(V128_STORE), ...mem(2),
];

function filterFunction(f: Matrices): number[] {
  const [g, ci, co, table] = [0, 1, 2, 3];
  const alpha = f.bt.length;
  const L = new Locals(4);
  const [i, ob, coBytes, base, tapStride] = L.take(5, I32) as [number, number, number, number, number];
  const x = L.take(9, V128), t = L.take(alpha * 3, V128);
  const load = (k: number): number[] => [...get(g), ...get(base), I32_ADD, ...get(ob), I32_ADD, ...get(tapStride), ...i32(k), I32_MUL, I32_ADD, ...simd(V128_LOAD), ...mem(2)];
  const pair = [
    ...x.flatMap((local, k) => [...load(k), ...set(local)]),
    ...transform2d(f.g, f.g, (r, c) => x[r * 3 + c]!, (k, j) => t[k * 3 + j]!,
      (k, l, value) => planeStore(table, k * alpha + l, [...get(base), I32_ADD, ...get(ob), I32_ADD], value)),
  ];
  const row = [...get(i), ...get(coBytes), I32_MUL, ...set(base), ...countedLoop(ob, coBytes, pair, 16)];
  const body = [
    ...get(co), ...i32(4), I32_MUL, ...set(coBytes), ...get(ci), ...get(coBytes), I32_MUL, ...set(tapStride),
    ...countedLoop(i, ci, row),
  ];
  return functionCode(L.runs, body);
}

/** dW [3, 3, ci, co] = G^T S G for the planes S[xi][i][o]: the dW's last transform. */
function weightsFunction(f: Matrices): number[] {
  const [table, g, ci, co] = [0, 1, 2, 3];
  const alpha = f.bt.length;
  const gt = f.g[0]!.map((_, k) => f.g.map((row) => row[k]!)); // 3 x alpha
  const L = new Locals(4);
  const [i, ob, coBytes, base, tapStride] = L.take(5, I32) as [number, number, number, number, number];
  const x = L.take(alpha * alpha, V128), t = L.take(3 * alpha, V128);
  const pair = [
    ...x.flatMap((local, xi) => [
      ...get(table), I32_LOAD, ...mem(2, 4 * xi), ...get(base), I32_ADD, ...get(ob), I32_ADD, ...simd(V128_LOAD), ...mem(2), ...set(local),
    ]),
    ...transform2d(gt, gt, (r, c) => x[r * alpha + c]!, (k, j) => t[k * alpha + j]!, (k, l, value) => [
      ...get(g), ...get(base), I32_ADD, ...get(ob), I32_ADD, ...get(tapStride), ...i32(k * 3 + l), I32_MUL, I32_ADD, ...value, ...simd(V128_STORE), ...mem(2),
    ]),
  ];
  const row = [...get(i), ...get(coBytes), I32_MUL, ...set(base), ...countedLoop(ob, coBytes, pair, 16)];
  const body = [
    ...get(co), ...i32(4), I32_MUL, ...set(coBytes), ...get(ci), ...get(coBytes), I32_MUL, ...set(tapStride),
    ...countedLoop(i, ci, row),
  ];
  return functionCode(L.runs, body);
}

/**
 * planes[xi][t][c] = (L d L^T)[xi] for the p x p tiles d of an NHWC tensor that start every m
 * rows and columns at (th * m - top, tw * m - left); rows/columns outside read as zero.
 * The input transform (L = B^T, p = alpha) and the dW's gradient transform (L = A, p = m).
 */
function tileFunction(left0: readonly (readonly number[])[], m: number, transposed = false): number[] {
  const [x, n, h, w, c, tilesH, tilesW, top, left, table] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const alpha = left0[0]!.length; // the tile read: p
  const L = new Locals(10);
  const [b, th, tw, cb, cBytes, tOff, r] = L.take(7, I32) as [number, number, number, number, number, number, number];
  // Transposed planes [c][t] (dW's GEMM takes V^T): tOff is t * 4, `rowStart` c * tiles * 4 + tOff,
  // and each vector's four channels go to four rows, `laneStride` = tiles * 4 bytes apart.
  const [rowStart, laneStride, value] = [...L.take(2, I32), ...L.take(1, V128)] as [number, number, number];
  const store = (xi: number, code: number[]): number[] => transposed
    ? [...code, ...set(value), ...[0, 1, 2, 3].flatMap((lane) => [
      ...get(table), I32_LOAD, ...mem(2, 4 * xi), ...get(rowStart), I32_ADD, ...(lane === 0 ? [] : [...get(laneStride), ...i32(lane), I32_MUL, I32_ADD]),
      ...get(value), ...simd(F32X4_EXTRACT_LANE), lane, F32_STORE, ...mem(2),
    ])]
    : planeStore(table, xi, [...get(tOff), I32_ADD, ...get(cb), I32_ADD], code);
  const rowBase = L.take(alpha, I32), rowOk = L.take(alpha, I32), colOff = L.take(alpha, I32), colOk = L.take(alpha, I32);
  const d = L.take(alpha * alpha, V128), t = L.take(left0.length * alpha, V128);
  const ok = (ii: number, jj: number): number[] => [...get(rowOk[ii]!), ...get(colOk[jj]!), I32_AND];
  // An element outside x loads from x itself (a valid address) and is then replaced by zero.
  const loadD = (ii: number, jj: number): number[] => [
    ...get(rowBase[ii]!), ...get(colOff[jj]!), I32_ADD, ...get(cb), I32_ADD, ...get(x), ...ok(ii, jj), SELECT,
    ...simd(V128_LOAD), ...mem(2), ...f32x4(0), ...ok(ii, jj), SELECT, ...set(d[ii * alpha + jj]!),
  ];
  const block = [
    ...(transposed ? [...get(cb), ...i32(2), I32_SHR_U, ...get(laneStride), I32_MUL, ...get(tOff), I32_ADD, ...set(rowStart)] : []),
    ...Array.from({ length: alpha * alpha }, (_, k) => loadD(Math.floor(k / alpha), k % alpha)).flat(),
    ...transform2d(left0, left0, (ii, jj) => d[ii * alpha + jj]!, (k, jj) => t[k * alpha + jj]!, (k, l, code) => store(k * left0.length + l, code)),
  ];
  const column = [
    ...Array.from({ length: alpha }, (_, jj) => [
      ...get(tw), ...i32(m), I32_MUL, ...get(left), I32_SUB, ...i32(jj), I32_ADD, ...set(r),
      ...get(r), ...get(w), I32_LT_U, ...set(colOk[jj]!), ...get(r), ...get(cBytes), I32_MUL, ...set(colOff[jj]!),
    ]).flat(),
    ...get(b), ...get(tilesH), I32_MUL, ...get(th), I32_ADD, ...get(tilesW), I32_MUL, ...get(tw), I32_ADD, ...(transposed ? i32(4) : get(cBytes)), I32_MUL, ...set(tOff),
    ...countedLoop(cb, cBytes, block, 16),
  ];
  const tileRow = [
    ...Array.from({ length: alpha }, (_, ii) => [
      ...get(th), ...i32(m), I32_MUL, ...get(top), I32_SUB, ...i32(ii), I32_ADD, ...set(r),
      ...get(r), ...get(h), I32_LT_U, ...set(rowOk[ii]!),
      ...get(x), ...get(b), ...get(h), I32_MUL, ...get(r), I32_ADD, ...get(w), I32_MUL, ...get(cBytes), I32_MUL, I32_ADD, ...set(rowBase[ii]!),
    ]).flat(),
    ...countedLoop(tw, tilesW, column),
  ];
  const body = [
    ...get(c), ...i32(4), I32_MUL, ...set(cBytes),
    ...get(n), ...get(tilesH), I32_MUL, ...get(tilesW), I32_MUL, ...i32(4), I32_MUL, ...set(laneStride),
    ...countedLoop(b, n, countedLoop(th, tilesH, tileRow)),
  ];
  return functionCode(L.runs, body);
}

function outputFunction(f: Matrices): number[] {
  const [table, y, n, ho, wo, c, tilesH, tilesW] = [0, 1, 2, 3, 4, 5, 6, 7];
  const alpha = f.bt.length, m = alpha - 2;
  const L = new Locals(8);
  const [b, th, tw, cb, cBytes, tOff, r] = L.take(7, I32) as [number, number, number, number, number, number, number];
  const rowBase = L.take(m, I32), rowOk = L.take(m, I32), colOff = L.take(m, I32), colOk = L.take(m, I32);
  const x = L.take(alpha * alpha, V128), t = L.take(m * alpha, V128);
  const block = [
    ...Array.from({ length: alpha * alpha }, (_, xi) => [
      ...get(table), I32_LOAD, ...mem(2, 4 * xi), ...get(tOff), I32_ADD, ...get(cb), I32_ADD, ...simd(V128_LOAD), ...mem(2), ...set(x[xi]!),
    ]).flat(),
    ...transform2d(f.at, f.at, (ii, jj) => x[ii * alpha + jj]!, (k, jj) => t[k * alpha + jj]!, (k, l, value) => [
      ...get(rowOk[k]!), ...get(colOk[l]!), I32_AND, IF, 0x40,
      ...get(rowBase[k]!), ...get(colOff[l]!), I32_ADD, ...get(cb), I32_ADD, ...value, ...simd(V128_STORE), ...mem(2),
      END,
    ]),
  ];
  const column = [
    ...Array.from({ length: m }, (_, l) => [
      ...get(tw), ...i32(m), I32_MUL, ...i32(l), I32_ADD, ...set(r),
      ...get(r), ...get(wo), I32_LT_U, ...set(colOk[l]!), ...get(r), ...get(cBytes), I32_MUL, ...set(colOff[l]!),
    ]).flat(),
    ...get(b), ...get(tilesH), I32_MUL, ...get(th), I32_ADD, ...get(tilesW), I32_MUL, ...get(tw), I32_ADD, ...get(cBytes), I32_MUL, ...set(tOff),
    ...countedLoop(cb, cBytes, block, 16),
  ];
  const tileRow = [
    ...Array.from({ length: m }, (_, k) => [
      ...get(th), ...i32(m), I32_MUL, ...i32(k), I32_ADD, ...set(r),
      ...get(r), ...get(ho), I32_LT_U, ...set(rowOk[k]!),
      ...get(y), ...get(b), ...get(ho), I32_MUL, ...get(r), I32_ADD, ...get(wo), I32_MUL, ...get(cBytes), I32_MUL, I32_ADD, ...set(rowBase[k]!),
    ]).flat(),
    ...countedLoop(tw, tilesW, column),
  ];
  const body = [...get(c), ...i32(4), I32_MUL, ...set(cBytes), ...countedLoop(b, n, countedLoop(th, tilesH, tileRow))];
  return functionCode(L.runs, body);
}

function moduleBytes(f: Matrices): Uint8Array {
  return memoryModule([
    { name: 'filter', type: i32Procedure(4), code: filterFunction(f) },
    { name: 'input', type: i32Procedure(10), code: tileFunction(f.bt, f.at.length) },
    { name: 'output', type: i32Procedure(8), code: outputFunction(f) },
    { name: 'gradient', type: i32Procedure(10), code: tileFunction(f.at[0]!.map((_, k) => f.at.map((row) => row[k]!)), f.at.length) },
    { name: 'weights', type: i32Procedure(4), code: weightsFunction(f) },
    { name: 'inputTransposed', type: i32Procedure(10), code: tileFunction(f.bt, f.at.length, true) },
  ]);
}

/**
 * The transforms for tile size m on `memory` (a WebAssembly.Memory), or null where this runtime
 * has no WebAssembly SIMD or cannot import the memory (the caller then runs the direct convolution).
 */
export function winogradTransforms(memory: object, m: WinogradTile): WinogradTransforms | null {
  return instanceOnMemory(`winograd-${m}`, () => moduleBytes(m === 2 ? F2 : F4), memory) as WinogradTransforms | null;
}
