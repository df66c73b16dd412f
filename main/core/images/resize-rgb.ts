/**
 * A Lanczos-3 downscale of 8-bit RGB (HWC) images, in JavaScript, for decode.ts's small-image path
 * (issue 14). Why not sharp's own resize: on 96-px JPEGs stored at 64 px, sharp's decode + resize
 * pipeline cost 2.2-2.4 ms of CPU per image against 0.8-1.1 ms for the same decode without the
 * resize (3,000 files in memory, 4 in flight, idle 2-core machine). The resize step, not the
 * filter, is what costs there: even libvips's nearest-neighbour kernel cost 2.1-2.4 ms.
 *
 * The filter is sharp's default (Lanczos, a = 3, widened by the scale factor so that it also
 * low-passes), with libvips's pixel-centre mapping and edge extension: the result is within one
 * level of sharp's (resize-rgb.spec), so stored copies keep their pixels. Per 96-px image
 * (64 px out) it costs 0.41-0.53 ms in the JavaScript passes and 0.15 ms in the WebAssembly ones
 * (resize-wasm.ts, bit-identical), which run wherever they compile. A tent filter (0.23 ms in
 * JavaScript) was tried and dropped, because it changes what the encoder sees (oxygen eval
 * 0.628 -> 0.580, adwaita 0.657 -> 0.683, one seed each).
 */
import type { RgbImage } from '../../ml/augment.js';
import { resizeKernels, type ResizeKernels } from './resize-wasm.js';

/**
 * The taps of one axis: output i reads `taps` consecutive source positions from start[i], with
 * weights weight[i * taps + k]. Taps past an edge read the edge pixel (as libvips extends images),
 * so their weights are folded onto it and the window moved inside the source: the inner loops
 * then step through memory without an index per tap.
 */
interface AxisTaps {
  readonly taps: number;
  readonly start: Int32Array;
  readonly weight: Float64Array;
  /** start * 3: where each window begins in an RGB row (both horizontal passes). */
  readonly rgbStart: Int32Array;
}

const axisCache = new Map<string, AxisTaps>();
/** Distinct (source, output) length pairs kept; a folder of mixed sizes has a few hundred at most. */
const AXIS_CACHE_LIMIT = 4096;

const LOBES = 3;

/** The Lanczos kernel with three lobes, of half-width 3 before it is widened by the scale. */
function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x <= -LOBES || x >= LOBES) return 0;
  const px = Math.PI * x;
  return (LOBES * Math.sin(px) * Math.sin(px / LOBES)) / (px * px);
}

function axisTaps(inLength: number, outLength: number, scale: number): AxisTaps {
  const key = `${inLength}:${outLength}:${scale}`;
  const known = axisCache.get(key);
  if (known !== undefined) return known;
  // Downscaling widens the kernel by the scale, so it averages what it drops (no aliasing).
  const stretch = Math.max(1, scale);
  const support = LOBES * stretch;
  // The source positions in (centre - support, centre + support]: the kernel is zero outside.
  const raw = Math.ceil(2 * support);
  const taps = Math.min(raw, inLength);
  const start = new Int32Array(outLength);
  const weight = new Float64Array(outLength * taps);
  for (let i = 0; i < outLength; i++) {
    // Pixel centres line up, and the output is centred on the source: output i covers
    // [i * scale, (i + 1) * scale) shifted by half of what the rounded output length leaves over.
    const centre = (i + 0.5) * scale - 0.5 + (inLength - outLength * scale) / 2;
    const first = Math.floor(centre - support) + 1;
    const window = Math.min(Math.max(first, 0), inLength - taps);
    start[i] = window;
    let sum = 0;
    for (let k = 0; k < raw; k++) {
      const w = lanczos3((first + k - centre) / stretch);
      const at = Math.min(inLength - 1, Math.max(0, first + k));
      weight[i * taps + at - window]! += w;
      sum += w;
    }
    for (let k = 0; k < taps; k++) weight[i * taps + k]! /= sum;
  }
  const result = { taps, start, weight, rgbStart: start.map((at) => at * 3) };
  if (axisCache.size >= AXIS_CACHE_LIMIT) axisCache.clear();
  axisCache.set(key, result);
  return result;
}

/** One reused buffer between the passes: a fresh 150 KB array per 96-px image cost more than the filter. */
let scratchRows = new Float64Array(0);
function scratch(length: number): Float64Array {
  if (scratchRows.length < length) scratchRows = new Float64Array(length);
  return scratchRows;
}

/**
 * `image` resized to width x height (each at most the source's), Lanczos-3, rounded and
 * clamped to 0..255. `factor` is the source pixels per output pixel on both axes; by default each
 * axis's own ratio. decode passes one factor, as sharp's aspect-keeping resize does: 96x131 at
 * shorter side 64 is 64x87 at a factor of 1.5 on both axes, not 131/87 down. The passes run in
 * WebAssembly where it compiles (resize-wasm.ts, bit-identical), else in JavaScript.
 */
export function downscaleRgb(image: RgbImage, width: number, height: number, factor?: number, engine: 'auto' | 'javascript' = 'auto'): RgbImage {
  const { width: inWidth, height: inHeight } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > inWidth || height > inHeight) {
    throw new RangeError(`downscaleRgb: cannot resize ${inWidth}x${inHeight} to ${width}x${height} (only downscaling to a positive size)`);
  }
  if (width === inWidth && height === inHeight) return image;
  const across = axisTaps(inWidth, width, factor ?? inWidth / width);
  const down = axisTaps(inHeight, height, factor ?? inHeight / height);
  const kernels = engine === 'auto' ? resizeKernels() : null;
  return kernels ? downscaleInWasm(kernels, image, width, height, across, down) : downscaleInJavaScript(image, width, height, across, down);
}

function downscaleInJavaScript(image: RgbImage, width: number, height: number, across: AxisTaps, down: AxisTaps): RgbImage {
  const { width: inWidth, data } = image;
  // The vertical pass first, over whole source rows (contiguous multiply-adds of bytes), then the
  // horizontal one over the fewer output rows: the horizontal taps gather, and cost more each.
  const { taps: acrossTaps, weight: acrossWeight, rgbStart: acrossStart } = across;
  const { taps: downTaps, weight: downWeight, start: downStart } = down;
  const sourceRow = inWidth * 3;
  const rows = scratch(height * sourceRow);
  for (let y = 0; y < height; y++) {
    const target = y * sourceRow;
    rows.fill(0, target, target + sourceRow);
    for (let k = 0, t = y * downTaps; k < downTaps; k++, t++) {
      const w = downWeight[t]!;
      if (w === 0) continue;
      const from = (downStart[y]! + k) * sourceRow;
      for (let j = 0; j < sourceRow; j++) rows[target + j]! += w * data[from + j]!;
    }
  }
  const rowLength = width * 3;
  // Lanczos overshoots past 0 and 255 at edges: the clamped array clamps and rounds (a plain one would wrap).
  const out = new Uint8ClampedArray(height * rowLength);
  for (let y = 0; y < height; y++) {
    const source = y * sourceRow;
    const target = y * rowLength;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0, t = x * acrossTaps, at = source + acrossStart[x]!; k < acrossTaps; k++, t++, at += 3) {
        const w = acrossWeight[t]!;
        r += w * rows[at]!;
        g += w * rows[at + 1]!;
        b += w * rows[at + 2]!;
      }
      out[target + x * 3] = r;
      out[target + x * 3 + 1] = g;
      out[target + x * 3 + 2] = b;
    }
  }
  return { width, height, data: new Uint8Array(out.buffer) };
}

const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/**
 * The same passes in the wasm module's memory: the source as float64 (one spare element after it
 * and after the rows, because the f64x2 vertical pass writes and reads pairs past an odd row's
 * end), then the rows, the output bytes and both axes' windows and weights.
 */
function downscaleInWasm(kernels: ResizeKernels, image: RgbImage, width: number, height: number, across: AxisTaps, down: AxisTaps): RgbImage {
  const sourceRow = image.width * 3;
  const source = 0;
  const rows = align16((image.data.length + 1) * 8);
  const out = rows + align16((height * sourceRow + 1) * 8);
  const downStarts = out + align16(height * width * 3);
  const downWeights = downStarts + align16(height * 4);
  const acrossStarts = downWeights + align16(down.weight.length * 8);
  const acrossWeights = acrossStarts + align16(width * 4);
  const end = acrossWeights + across.weight.length * 8;
  const { memory } = kernels;
  if (memory.buffer.byteLength < end) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  const buffer = memory.buffer;
  new Float64Array(buffer, source, image.data.length + 1).set(image.data);
  new Int32Array(buffer, downStarts, height).set(down.start);
  new Float64Array(buffer, downWeights, down.weight.length).set(down.weight);
  new Int32Array(buffer, acrossStarts, width).set(across.rgbStart);
  new Float64Array(buffer, acrossWeights, across.weight.length).set(across.weight);
  kernels.vertical(source, rows, sourceRow, height, downStarts, downWeights, down.taps);
  kernels.horizontal(rows, sourceRow, out, width, height, acrossStarts, acrossWeights, across.taps);
  return { width, height, data: new Uint8Array(buffer.slice(out, out + height * width * 3)) };
}
