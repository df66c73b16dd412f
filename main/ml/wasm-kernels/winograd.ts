/**
 * 3x3 stride-1 Conv2D on wasm as a Winograd convolution F(m x m, 3 x 3) (issue 9): the filter,
 * input and output transforms of winograd-module.ts around alpha^2 XNNPACK GEMMs, one per
 * Winograd point. ResNet-18's 3x3 stride-1 convs are most of a training step (forward, and the
 * dx of conv2d-backprop-input.ts, which is itself a 3x3 stride-1 conv through this kernel), and
 * XNNPACK's wasm GEMM is near what 128-bit SIMD without FMA allows (a hand-assembled GEMM
 * microkernel measured 14-17 GFLOP/s here, with relaxed-SIMD FMA too, against XNNPACK's conv at
 * 13-21): fewer multiplications is the way left to go faster.
 *
 * Not bit-identical to the direct conv: the transforms change the float arithmetic (F(4,3)'s
 * constants 1/6, 1/12, 1/24 are inexact in float32). winograd.spec bounds the difference.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendMemory, heapF32, matMul, offsetBytes, offsetF32, release, transpose, zeros, type WasmBackend } from './kernel-utils.js';
import { gemmKernels, gemmRuns, type GemmKernels } from './gemm-module.js';
import { winogradTransforms, type WinogradTile } from './winograd-module.js';

/**
 * Where Winograd runs: 3x3, stride 1, dilation 1, channel counts multiples of 4 (the stem's 3
 * input channels stay direct). `tile` forces a tile size or turns Winograd off (0) for
 * benchmarks and tests. With `ownGemm` (the default) and Co a multiple of 8, the planes are
 * multiplied by the assembled GEMMs of gemm-module.ts and 'auto' is the short rule measured in
 * winogradTile. Otherwise (XNNPACK's GEMMs) 'auto' picks per layer, from forward convs at batch 32 and 16, CPU ms,
 * direct / F(2,3) / F(4,3), interleaved (.prof measurements, idle 2-core machine):
 *   64ch @32px 209 / 89 / 60;  128 @16 194 / 81 / 52;  256 @8 178 / 74 / 62;  512 @4 201 / 91 / 111;
 *   batch 16: 512 @4 83 / 63 / 92;  128 @4 7.8 / 4.4 / 6.8;  8 @32 1.6 / 2.0 / 2.0;  16 @16 1.1 / 1.0 / 4.9.
 * Each plane's GEMM is one XNNPACK call that packs its [Ci, Co] plane, so a tile size pays only
 * where every one of its GEMMs has enough rows (`minTiles`) and work (`minFlopsPerProduct`, in
 * multiply-adds x 2 of the direct conv per Winograd point); F(4,3) is preferred where both hold.
 * Where a conv has fewer tiles than output channels its GEMMs run transposed (`swapBelow`;
 * direct / F(2,3) / F(4,3) / F(4,3) transposed, CPU ms): 512 @4 121 / 88 / 118 / 51;
 * 256 @8 97 / 53 / 58 / 48; batch 16: 512 @4 88 / 66 / 105 / 40, 256 @8 61 / 44 / 48 / 30; but
 * 128 @16 (512 tiles) 99 / 57 / 44 / 63, so only below Co tiles.
 * dW (`pass: 'filter'`), same layers: 238 / 192 / 122;  274 / 179 / 92;  253 / 148 / 82;
 * 120 / 75 / 56;  batch 16: 512 @4 60 / 42 / 41;  16 @16 2.5 / 4.3 / 2.2: F(4,3) wins at every
 * size that has the work, few tiles included, and F(2,3) never clearly does.
 * The work thresholds come from the narrow layers (each 37.7 MFLOP at width 1/8 and batch 32,
 * 75 MFLOP at width 1/4 and batch 16): forward direct / F(2,3) / F(4,3) at width 1/8, batch 32,
 * 8 @32 8.5 / 9.3 / 10.8, 16 @16 3.2 / 8.4 / 4.0, 64 @4 2.1 / 3.2 / 6.2 (so no Winograd below
 * 3 MFLOP a product); width 1/4, batch 16: 16 @32 6.1 / 5.7 / 7.8, 32 @16 5.2 / 2.3 / 2.5;
 * dW there 22.5 / 22.6 / 10.6 and 11.6 / 15.4 / 8.3, but at width 1/8, batch 32 8 @32
 * 14.1 / 22.6 / 17.5 (so dW's F(4,3) from 1.5 MFLOP a product). Timings of a few ms are noisy
 * here (+-30 % between runs); the thresholds sit where the losses were clear.
 */
export const winogradOptions: {
  tile: WinogradTile | 0 | 'auto'; minTiles: number; minFlopsPerProduct: { forward: number; filter: number }; swapBelow: number;
  storeTransposedFrom: number; ownGemm: boolean; outerProductRows: number; minOwnTiles: number;
} = {
  tile: 'auto', minTiles: 64, minFlopsPerProduct: { forward: 3e6, filter: 1.5e6 }, swapBelow: 1, storeTransposedFrom: 1024,
  ownGemm: true, outerProductRows: 256, minOwnTiles: 16,
};

/** The assembled GEMMs where they apply to this conv (ownGemm on, Co a multiple of 8, the memory importable), or null. */
function ownGemm(backend: WasmBackend, co: number): GemmKernels | null {
  const memory = backendMemory(backend);
  return winogradOptions.ownGemm && co % 8 === 0 && memory !== undefined ? gemmKernels(memory) : null;
}

/** Zeroes rows [from, to) of each [to, width] plane. */
function zeroRows(backend: WasmBackend, planes: readonly (tf.TensorInfo | undefined)[], from: number, to: number, width: number): void {
  const heap = heapF32(backend);
  for (const plane of planes) {
    const at = offsetF32(backend, plane!);
    heap.fill(0, at + from * width, at + to * width);
  }
}

/** Whether a forward conv's GEMMs run transposed (see winogradConv2d). */
const swapsOperands = (tiles: number, co: number): boolean => tiles < co * winogradOptions.swapBelow;

/** The Winograd tile for this conv, or 0 for the direct convolution. */
export function winogradTile(
  pass: 'forward' | 'filter', dtypes: readonly tf.DataType[], filterShape: readonly number[], info: tf.backend_util.Conv2DInfo,
): WinogradTile | 0 {
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  const eligible = winogradOptions.tile !== 0 && dtypes.every((t) => t === 'float32') && info.dataFormat === 'channelsLast'
    && kh === 3 && kw === 3 && info.strideHeight === 1 && info.strideWidth === 1 && info.dilationHeight === 1 && info.dilationWidth === 1
    && ci > 0 && co > 0 && ci % 4 === 0 && co % 4 === 0 && info.batchSize > 0 && info.outHeight > 0 && info.outWidth > 0; // the module's loops run at least once
  if (!eligible) return 0;
  if (winogradOptions.tile !== 'auto') return winogradOptions.tile;
  // On the assembled GEMMs (ownGemm: winogradConv2d's multiply, winogradFilterGradient's outer
  // products) nothing is packed per plane, so F(4,3) pays down to thin layers; below 16 input
  // channels a tile's two vectors leave the transforms' overheads uncovered. Interleaved, CPU ms
  // at batch 32 (batch 16 alike), direct / F(4,3) on XNNPACK ('auto' before) / F(4,3) own:
  //   forward 8 @32 2.4 / 2.5 / 3.8;  16 @16 1.8 / 1.8 / 1.1;  32 @8 1.3 / 2.1 / 0.7;  64 @4 1.5 / 1.4 / 0.8;
  //   16 @32 7.8 / 5.5 / 4.6;  32 @16 6.1 / 3.5 / 2.6;  64 @8 5.4 / 2.8 / 1.7;  128 @4 6.9 / 5.1 / 2.1;
  //   64 @32 110 / 63 / 38;  128 @16 96 / 50 / 30;  256 @8 111 / 51 / 29;  512 @4 143 / 66 / 41;
  //   dW 8 @32 1.6 / 5.5 / 3.6;  16 @16 1.5 / 6.7 / 1.4;  32 @8 2.0 / 4.8 / 1.0;  64 @4 1.4 / 8.8 / 1.0;
  //   16 @32 4.6 / 12.1 / 4.9;  32 @16 5.9 / 11.9 / 3.8;  128 @4 6.3 / 7.2 / 3.3;  64 @32 144 / 110 / 55;
  //   128 @16 86 / 59 / 34;  256 @8 77 / 40 / 31;  512 @4 156 / 70 / 67 (direct dW on outer products too).
  // Few tiles (a single image at 4x4: one tile) leave the GEMMs' rows, padded to 4, mostly
  // padding; `minOwnTiles` keeps those on the direct conv (a guard, not measured: the training
  // batches here have 16 tiles or more at every layer).
  if (winogradOptions.ownGemm && co % 8 === 0) {
    const tiles = info.batchSize * Math.ceil(info.outHeight / 4) * Math.ceil(info.outWidth / 4);
    return ci >= 16 && tiles >= winogradOptions.minOwnTiles ? 4 : 0;
  }
  const n = info.batchSize;
  const flops = 2 * n * info.outHeight * info.outWidth * ci * co * 9;
  // dW's GEMMs pack a [tiles, Co] plane of dy, not a filter plane, and a forward conv with fewer
  // tiles than output channels multiplies its planes transposed (winogradConv2d), so few tiles
  // cost neither.
  const enoughTiles = (m: WinogradTile): boolean => {
    const tiles = n * Math.ceil(info.outHeight / m) * Math.ceil(info.outWidth / m);
    return pass === 'filter' || tiles >= winogradOptions.minTiles || swapsOperands(tiles, co);
  };
  const pays = (m: WinogradTile): boolean => enoughTiles(m) && flops / ((m + 2) * (m + 2)) >= winogradOptions.minFlopsPerProduct[pass];
  if (pays(4)) return 4;
  return pass === 'forward' && pays(2) ? 2 : 0;
}

/** A table of the planes' byte offsets, in the backend's memory. */
function planeTable(backend: WasmBackend, table: tf.TensorInfo, planes: readonly (tf.TensorInfo | undefined)[]): number {
  const at = offsetBytes(backend, table);
  const heap = new Int32Array(backend.wasm.HEAPU8.buffer, at, planes.length); // after every allocation: the heap may have grown
  planes.forEach((p, i) => { heap[i] = offsetBytes(backend, p!); });
  return at;
}

/** The transforms and tile geometry of one Winograd conv, or null where this runtime cannot run it. */
function winogradPlan(backend: WasmBackend, x: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, m: WinogradTile) {
  const memory = backendMemory(backend);
  const transforms = memory === undefined ? null : winogradTransforms(memory, m);
  if (transforms === null) return null;
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const { outHeight: ho, outWidth: wo, outChannels: co } = info;
  const tilesH = Math.ceil(ho / m), tilesW = Math.ceil(wo / m);
  return { transforms, n, h, w, ci, co, ho, wo, tilesH, tilesW, tiles: n * tilesH * tilesW, points: (m + 2) * (m + 2) };
}

/** y = conv2d(x, filter) as Winograd F(m, 3), or null where this runtime cannot run it (the caller then runs the direct conv). */
export function winogradConv2d(
  backend: WasmBackend, x: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, m: WinogradTile,
): tf.TensorInfo | null {
  const plan = winogradPlan(backend, x, info, m);
  if (plan === null) return null;
  const { transforms, n, h, w, ci, co, ho, wo, tilesH, tilesW, tiles, points } = plan;
  const table = backend.makeOutput([points], 'int32');
  const gemm = ownGemm(backend, co);
  // XNNPACK's GEMM packs its second operand every call. With few tiles (the 4x4 and 8x8 layers)
  // the planes are then multiplied transposed, M^T = U^T V^T, so that it packs V^T [ci, tiles]
  // rather than a whole [ci, co] filter plane; U^T comes from the filter transform of the
  // transposed filter. The assembled `multiply` packs nothing, so it multiplies V U as they are,
  // on rows rounded up to a multiple of four (the padding rows are zero and never read back).
  const swapped = gemm === null && swapsOperands(tiles, co);
  const rows = gemm === null ? tiles : Math.ceil(tiles / 4) * 4;
  const u: (tf.TensorInfo | undefined)[] = [], v: (tf.TensorInfo | undefined)[] = [], products: tf.TensorInfo[] = [];
  let filterT: tf.TensorInfo | undefined;
  try {
    for (let p = 0; p < points; p++) u.push(backend.makeOutput(swapped ? [co, ci] : [ci, co], 'float32'));
    if (swapped) {
      filterT = transpose(backend, filter, [0, 1, 3, 2]);
      transforms.filter(offsetBytes(backend, filterT), co, ci, planeTable(backend, table, u));
      release(backend, filterT);
      filterT = undefined;
    } else {
      transforms.filter(offsetBytes(backend, filter), ci, co, planeTable(backend, table, u));
    }
    for (let p = 0; p < points; p++) v.push(backend.makeOutput([rows, ci], 'float32'));
    if (rows > tiles) zeroRows(backend, v, tiles, rows, ci); // the padding rows: zeros, not stale heap values
    transforms.input(offsetBytes(backend, x), n, h, w, ci, tilesH, tilesW, info.padInfo.top, info.padInfo.left, planeTable(backend, table, v));
    if (gemm !== null) gemmRuns.winogradForward++;
    for (let p = 0; p < points; p++) {
      if (gemm !== null) {
        const product = backend.makeOutput([rows, co], 'float32');
        products.push(product);
        gemm.multiply(offsetBytes(backend, v[p]!), offsetBytes(backend, u[p]!), offsetBytes(backend, product), rows, co, ci, ci * 4, co * 4, co * 4);
      } else {
        products.push(swapped ? transposedProduct(backend, u[p]!, v[p]!, co, ci, tiles) : matMul(backend, v[p]!, u[p]!, tiles, ci, co));
      }
      release(backend, v[p], u[p]); // each plane pair goes as soon as its product exists
      v[p] = u[p] = undefined;
    }
    const y = backend.makeOutput([n, ho, wo, co], 'float32');
    try {
      transforms.output(planeTable(backend, table, products), offsetBytes(backend, y), n, ho, wo, co, tilesH, tilesW);
    } catch (e) {
      release(backend, y);
      throw e;
    }
    return y;
  } finally {
    release(backend, table, filterT, ...u, ...v, ...products);
  }
}

/** (U^T V^T)^T = V U [tiles, co] for U^T [co, ci] and V [tiles, ci], with V^T as XNNPACK's packed operand. */
function transposedProduct(backend: WasmBackend, ut: tf.TensorInfo, v: tf.TensorInfo, co: number, ci: number, tiles: number): tf.TensorInfo {
  const vt = transpose(backend, v, [1, 0]);
  let mt: tf.TensorInfo;
  try {
    mt = matMul(backend, ut, vt, co, ci, tiles); // [co, tiles]
  } finally {
    release(backend, vt);
  }
  try {
    return transpose(backend, mt, [1, 0]);
  } finally {
    release(backend, mt);
  }
}

/**
 * dW of a 3x3 stride-1 conv by the same algorithm transposed: with y = A^T[(G g) . (B^T d)]
 * computing F(m, 3), the sum over positions of x times dy for one m x m tile of dy is
 * G^T[(A dy A^T) . (B^T x B)]G (the trilinear form sum_xi (A dy)(G g)(B^T x), differentiated in
 * g), so dW = G^T [sum over tiles of V_xi^T D_xi] G: one GEMM per point reducing over the
 * tiles, between the forward conv's input transform and two new ones. Null where this runtime
 * cannot run it.
 */
export function winogradFilterGradient(
  backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, m: WinogradTile,
): tf.TensorInfo | null {
  const plan = winogradPlan(backend, x, info, m);
  if (plan === null) return null;
  const { transforms, n, h, w, ci, co, ho, wo, tilesH, tilesW, tiles, points } = plan;
  const table = backend.makeOutput([points], 'int32');
  const v: (tf.TensorInfo | undefined)[] = [], d: (tf.TensorInfo | undefined)[] = [], sums: tf.TensorInfo[] = [];
  try {
    const outer = ownGemm(backend, co);
    // Outer products read V [tiles, ci] as it is. The XNNPACK GEMM takes V^T [ci, tiles] (it has
    // no transposed operand), stored transposed by the input transform (four scalar stores a
    // vector) or transposed afterwards by the C++ Transpose: interleaved, CPU ms, transpose /
    // stored: 64@32 115 / 100, batch 16 63 / 52; 128@16 65 / 67; 256@8 54 / 57; 512@4 52 / 59;
    // so stored only from `storeTransposedFrom` tiles.
    if (outer !== null) gemmRuns.winogradDw++;
    const stored = outer === null && tiles >= winogradOptions.storeTransposedFrom;
    for (let p = 0; p < points; p++) v.push(backend.makeOutput(stored ? [ci, tiles] : [tiles, ci], 'float32'));
    (stored ? transforms.inputTransposed : transforms.input)(
      offsetBytes(backend, x), n, h, w, ci, tilesH, tilesW, info.padInfo.top, info.padInfo.left, planeTable(backend, table, v),
    );
    for (let p = 0; p < points; p++) d.push(backend.makeOutput([tiles, co], 'float32'));
    transforms.gradient(offsetBytes(backend, dy), n, ho, wo, co, tilesH, tilesW, 0, 0, planeTable(backend, table, d));
    for (let p = 0; p < points; p++) {
      if (outer !== null) {
        const sum = zeros(backend, [ci, co]);
        sums.push(sum);
        const [v0, d0, s0] = [offsetBytes(backend, v[p]!), offsetBytes(backend, d[p]!), offsetBytes(backend, sum)];
        const block = Math.max(1, Math.floor(winogradOptions.outerProductRows));
        for (let t0 = 0; t0 < tiles; t0 += block) {
          const rows = Math.min(block, tiles - t0);
          outer.accumulate(v0 + t0 * ci * 4, d0 + t0 * co * 4, s0, ci, co, 1, 1, rows, 0, 0, ci * 4, 0, 0, co * 4, co * 4);
        }
      } else {
        if (!stored) {
          const vt = transpose(backend, v[p]!, [1, 0]);
          release(backend, v[p]);
          v[p] = vt;
        }
        sums.push(matMul(backend, v[p]!, d[p]!, ci, tiles, co)); // V^T D
      }
      release(backend, v[p], d[p]);
      v[p] = d[p] = undefined;
    }
    const dw = backend.makeOutput([3, 3, ci, co], 'float32');
    try {
      transforms.weights(planeTable(backend, table, sums), offsetBytes(backend, dw), ci, co);
    } catch (e) {
      release(backend, dw);
      throw e;
    }
    return dw;
  } finally {
    release(backend, table, ...v, ...d, ...sums);
  }
}
