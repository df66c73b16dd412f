/**
 * A triangle-filter downscale of 8-bit RGB (HWC) images, in JavaScript, for decode.ts's small-image
 * path (issue 14). Why not sharp's own resize: on 96-px JPEGs stored at 64 px, sharp's decode +
 * resize pipeline cost 2.2-2.4 ms of CPU per image against 0.8-1.1 ms for the same decode without
 * the resize (3,000 files in memory, 4 in flight, idle 2-core machine). The resize step, not the
 * filter, is what costs there: even libvips's nearest-neighbour kernel cost 2.1-2.4 ms.
 *
 * The filter is the tent, widened by the scale factor so that it averages what it drops: PIL's
 * antialiased bilinear, which the reference's torchvision transforms resize with, and libvips's
 * 'linear' kernel, which decode uses for larger images. It matches sharp's 'linear' within one
 * level (resize-rgb.spec). Lanczos-3 (sharp's default, the filter before) cost 0.5 ms per image
 * here, against 0.23 ms for the tent; the first load went from 574-596 to 1135-1155 img/s with it.
 */
import type { RgbImage } from '../../ml/augment.js';


/** The taps of one axis: for output i, `taps` weights starting at source index first[i] (edges clamped). */
interface AxisTaps {
  readonly taps: number;
  /** Source index of each output's taps, clamped into range: index[i * taps + k]. */
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

const axisCache = new Map<string, AxisTaps>();
/** Distinct (source, output) length pairs kept; a folder of mixed sizes has a few hundred at most. */
const AXIS_CACHE_LIMIT = 4096;

/** The triangle (tent) kernel, of half-width 1 before it is widened by the scale. */
function triangle(x: number): number {
  return Math.max(0, 1 - Math.abs(x));
}

function axisTaps(inLength: number, outLength: number, scale: number): AxisTaps {
  const key = `${inLength}:${outLength}:${scale}`;
  const known = axisCache.get(key);
  if (known !== undefined) return known;
  // Downscaling widens the kernel by the scale, so it averages what it drops (no aliasing).
  const stretch = Math.max(1, scale);
  const support = stretch;
  // The source positions in (centre - support, centre + support]: the kernel is zero outside.
  const taps = Math.ceil(2 * support);
  const index = new Int32Array(outLength * taps);
  const weight = new Float64Array(outLength * taps);
  for (let i = 0; i < outLength; i++) {
    // Pixel centres line up, and the output is centred on the source: output i covers
    // [i * scale, (i + 1) * scale) shifted by half of what the rounded output length leaves over.
    const centre = (i + 0.5) * scale - 0.5 + (inLength - outLength * scale) / 2;
    const first = Math.floor(centre - support) + 1;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const w = triangle((first + k - centre) / stretch);
      weight[i * taps + k] = w;
      index[i * taps + k] = Math.min(inLength - 1, Math.max(0, first + k));
      sum += w;
    }
    for (let k = 0; k < taps; k++) weight[i * taps + k]! /= sum;
  }
  const result = { taps, index, weight };
  if (axisCache.size >= AXIS_CACHE_LIMIT) axisCache.clear();
  axisCache.set(key, result);
  return result;
}

/** One reused buffer for the passes (rows, then one output line): a fresh 150 KB array per 96-px image cost more than the filter. */
let scratchRows = new Float64Array(0);
function scratch(length: number): Float64Array {
  if (scratchRows.length < length) scratchRows = new Float64Array(length);
  return scratchRows;
}

/**
 * `image` resized to width x height (each at most the source's), triangle filter, rounded and
 * clamped to 0..255. `factor` is the source pixels per output pixel on both axes; by default each
 * axis's own ratio. decode passes one factor, as sharp's aspect-keeping resize does: 96x131 at
 * shorter side 64 is 64x87 at a factor of 1.5 on both axes, not 131/87 down.
 */
export function downscaleRgb(image: RgbImage, width: number, height: number, factor?: number): RgbImage {
  const { width: inWidth, height: inHeight, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > inWidth || height > inHeight) {
    throw new RangeError(`downscaleRgb: cannot resize ${inWidth}x${inHeight} to ${width}x${height} (only downscaling to a positive size)`);
  }
  if (width === inWidth && height === inHeight) return image;
  const across = axisTaps(inWidth, width, factor ?? inWidth / width);
  const down = axisTaps(inHeight, height, factor ?? inHeight / height);
  // Horizontal pass over every source row into floats, then the vertical pass into bytes.
  const rows = scratch(inHeight * width * 3 + width * 3);
  const line = rows.subarray(inHeight * width * 3, inHeight * width * 3 + width * 3);
  for (let y = 0; y < inHeight; y++) {
    const source = y * inWidth * 3;
    const target = y * width * 3;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0, t = x * across.taps; k < across.taps; k++, t++) {
        const w = across.weight[t]!;
        const at = source + across.index[t]! * 3;
        r += w * data[at]!;
        g += w * data[at + 1]!;
        b += w * data[at + 2]!;
      }
      rows[target + x * 3] = r;
      rows[target + x * 3 + 1] = g;
      rows[target + x * 3 + 2] = b;
    }
  }
  const rowLength = width * 3;
  // Weights are positive, so sums stay in 0..255; the clamped array rounds (a plain one would truncate).
  const out = new Uint8ClampedArray(height * rowLength);
  for (let y = 0; y < height; y++) {
    line.fill(0);
    for (let k = 0, t = y * down.taps; k < down.taps; k++, t++) {
      const w = down.weight[t]!;
      if (w === 0) continue;
      const from = down.index[t]! * rowLength;
      for (let j = 0; j < rowLength; j++) line[j]! += w * rows[from + j]!;
    }
    const target = y * rowLength;
    for (let j = 0; j < rowLength; j++) out[target + j] = line[j]!; // clamped and rounded on store
  }
  return { width, height, data: new Uint8Array(out.buffer) };
}
