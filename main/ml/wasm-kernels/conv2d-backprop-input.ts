/**
 * Conv2DBackpropInput (dx of a conv) on wasm as XNNPACK forward convolutions.
 *
 * The stock wasm kernel is a naive C++ loop (~12x slower than the forward conv). Here:
 * - stride 1: dx = conv(dy, W'), W' = W flipped in KH and KW with in/out channels swapped,
 *   padding (KH-1-top) / (KW-1-left) so that the output lands exactly on x's grid.
 * - stride s > 1: polyphase decomposition (the "sub-pixel"/transposed-conv identity). Rows of
 *   dx with (i + top) mod s = p only receive the taps k = p, p+s, p+2s, ... of the filter, so
 *   each of the s*s phases is a stride-1 conv of dy with a sub-filter of about (KH/s)x(KW/s)
 *   taps. The phases together cost the same FLOPs as the forward conv (zero insertion would
 *   cost s*s times more). Their outputs are interleaved into dx with heap copies.
 *
 * Derivation (one spatial dim): y[o] = sum_k x[o*s + k - top] w[k]. For dx[i] put
 * i + top = a*s + p (0 <= p < s); the taps are k = p + s*m and the matching o = a - m, so
 * dx[i] = sum_{m} dy[a - m] w[p + s*m] = sum_j dy[a - (M-1) + j] g[j] with the flipped
 * sub-filter g[j] = w[p + s*(M-1-j)], M = ceil((K - p) / s): a stride-1 correlation whose
 * window for output a starts at dy row a - (M-1), i.e. top padding M-1-a0.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  asWasm,
  ceilDiv,
  conv2d,
  floorDiv,
  heapF32,
  offsetF32,
  release,
  sliceCopy,
  transpose,
  zeros,
  type Pads,
  type WasmBackend,
} from './kernel-utils.js';

/** The rows (or columns) of x that one phase produces and the dy window it needs. */
interface Phase {
  p: number; // phase: (i + padBefore) mod s
  taps: number; // M: filter taps k = p, p+s, ... < K
  a0: number; // first output index a of this phase (i = a*s + p - padBefore)
  count: number; // number of outputs of this phase inside [0, inSize)
}

function phases(inSize: number, k: number, s: number, padBefore: number): Phase[] {
  const out: Phase[] = [];
  for (let p = 0; p < s; p++) {
    const taps = p < k ? ceilDiv(k - p, s) : 0;
    const a0 = ceilDiv(padBefore - p, s);
    const a1 = floorDiv(inSize - 1 + padBefore - p, s);
    out.push({ p, taps, a0, count: Math.max(0, a1 - a0 + 1) });
  }
  return out;
}

/**
 * The flipped sub-filter of one phase: g[j, l, :, :] = wT[ph + sh*(mh-1-j), pw + sw*(mw-1-l)],
 * wT [KH, KW, Co, Ci] (W with in/out channels swapped). Each tap is one contiguous Co*Ci block,
 * so the gather is KH*KW block copies on the heap. -> [mh, mw, Co, Ci]
 */
function subFilter(
  backend: WasmBackend,
  wT: tf.TensorInfo,
  rows: Phase,
  cols: Phase,
  sh: number,
  sw: number,
): tf.TensorInfo {
  const [, kw, co, ci] = wT.shape as [number, number, number, number];
  const mh = rows.taps;
  const mw = cols.taps;
  const out = backend.makeOutput([mh, mw, co, ci], 'float32');
  const heap = heapF32(backend);
  const src0 = offsetF32(backend, wT);
  const dst0 = offsetF32(backend, out);
  const block = co * ci;
  for (let j = 0; j < mh; j++) {
    const kh = rows.p + sh * (mh - 1 - j);
    for (let l = 0; l < mw; l++) {
      const kwi = cols.p + sw * (mw - 1 - l);
      const src = src0 + (kh * kw + kwi) * block;
      heap.copyWithin(dst0 + (j * mw + l) * block, src, src + block);
    }
  }
  return out;
}

/**
 * One phase's stride-1 conv: dy [N, Ho, Wo, Co] * g [mh, mw, Co, Ci] -> [N, rows.count,
 * cols.count, Ci]. Padding is M-1-a0 before and a_last-(Ho-1) after; where either is
 * negative (dy rows this phase never reads, e.g. windows that start in the bottom padding),
 * those rows of dy are cropped first, since XNNPACK takes no negative padding.
 */
function phaseConv(
  backend: WasmBackend,
  dy: tf.TensorInfo,
  g: tf.TensorInfo,
  rows: Phase,
  cols: Phase,
): tf.TensorInfo {
  const [n, ho, wo, co] = dy.shape as [number, number, number, number];
  const pads: Pads = {
    top: rows.taps - 1 - rows.a0,
    bottom: rows.a0 + rows.count - 1 - (ho - 1),
    left: cols.taps - 1 - cols.a0,
    right: cols.a0 + cols.count - 1 - (wo - 1),
  };
  let input = dy;
  if (pads.top < 0 || pads.bottom < 0 || pads.left < 0 || pads.right < 0) {
    const cropTop = Math.max(0, -pads.top);
    const cropLeft = Math.max(0, -pads.left);
    const h = ho - cropTop - Math.max(0, -pads.bottom);
    const w = wo - cropLeft - Math.max(0, -pads.right);
    input = sliceCopy(backend, dy, [0, cropTop, cropLeft, 0], [n, h, w, co]);
    pads.top = Math.max(0, pads.top);
    pads.bottom = Math.max(0, pads.bottom);
    pads.left = Math.max(0, pads.left);
    pads.right = Math.max(0, pads.right);
  }
  const out = conv2d(backend, input, g, [1, 1], pads);
  if (input !== dy) release(backend, input);
  return out;
}

/**
 * Writes a phase result [N, rows.count, cols.count, Ci] into dx [N, H, W, Ci] at rows
 * i = a*sh + ph - top, columns j = b*sw + pw - left. With sw = 1 a whole row is one run.
 */
function scatterPhase(
  backend: WasmBackend,
  part: tf.TensorInfo,
  dx: tf.TensorInfo,
  rows: Phase,
  cols: Phase,
  sh: number,
  sw: number,
  top: number,
  left: number,
): void {
  const [n, h, w, ci] = dx.shape as [number, number, number, number];
  const heap = heapF32(backend);
  let src = offsetF32(backend, part);
  const dst0 = offsetF32(backend, dx);
  const i0 = rows.a0 * sh + rows.p - top;
  const j0 = cols.a0 * sw + cols.p - left;
  const rowRun = cols.count * ci;
  for (let b = 0; b < n; b++) {
    for (let a = 0; a < rows.count; a++) {
      const dstRow = dst0 + ((b * h + i0 + a * sh) * w + j0) * ci;
      if (sw === 1) {
        heap.copyWithin(dstRow, src, src + rowRun);
        src += rowRun;
      } else {
        for (let c = 0; c < cols.count; c++) {
          const dst = dstRow + c * sw * ci;
          heap.copyWithin(dst, src, src + ci);
          src += ci;
        }
      }
    }
  }
}

export function conv2dBackpropInputWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (attrs.dataFormat === 'NCHW') {
    throw new Error('wasm Conv2DBackpropInput supports NHWC only (as does the wasm Conv2D)');
  }
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const [n, h, w, ci] = attrs.inputShape;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  if (n * h * w * ci === 0) return zeros(backend, [n, h, w, ci]);

  // [KH, KW, Ci, Co] -> [KH, KW, Co, Ci]: dy's channels (Co) become the conv's input channels.
  const wT = transpose(backend, filter, [0, 1, 3, 2]);
  const rowPhases = phases(h, kh, sh, top);
  const colPhases = phases(w, kw, sw, left);

  const single = sh === 1 && sw === 1;
  let dx: tf.TensorInfo | undefined;
  try {
    if (!single) {
      // Phases with no taps (e.g. odd positions of a strided 1x1 conv) get no gradient;
      // zero-fill only if one exists, otherwise every element is written exactly once.
      const anyEmpty =
        rowPhases.some((r) => r.taps === 0 && r.count > 0) ||
        colPhases.some((c) => c.taps === 0 && c.count > 0);
      dx = anyEmpty ? zeros(backend, [n, h, w, ci]) : backend.makeOutput([n, h, w, ci], 'float32');
    }
    for (const rows of rowPhases) {
      for (const cols of colPhases) {
        if (rows.taps === 0 || cols.taps === 0 || rows.count === 0 || cols.count === 0) continue;
        const g = subFilter(backend, wT, rows, cols, sh, sw);
        const part = phaseConv(backend, dy, g, rows, cols);
        release(backend, g);
        if (single) return part; // stride 1: the phase covers all of x, already in place
        scatterPhase(backend, part, dx!, rows, cols, sh, sw, top, left);
        release(backend, part);
      }
    }
    return dx ?? zeros(backend, [n, h, w, ci]);
  } catch (e) {
    release(backend, dx);
    throw e;
  } finally {
    release(backend, wT);
  }
}
