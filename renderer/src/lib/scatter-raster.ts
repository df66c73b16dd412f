/**
 * Raster of the embedding map: every point is a small square written straight into an ImageData
 * (one pass over the points, one putImageData), instead of one canvas path per point (issue 14:
 * 100k arcs took ~130 ms a frame). Unselected points are written translucent when a selection
 * exists. Also the view transform (fit to the box, then wheel zoom and drag pan).
 */
export const NO_CLASS = 0xffff;

export interface ScatterView { zoom: number; offsetX: number; offsetY: number }

/** Fits the data bounds of `xy` into width x height (CSS px) with `pad`; y grows upwards. */
export function fitTransform(xy: Float32Array, width: number, height: number, pad = 16): { scale: number; x0: number; y0: number; offX: number; offY: number } {
  let minX = Infinity; let maxX = -Infinity; let minY = Infinity; let maxY = -Infinity;
  for (let i = 0; i < xy.length; i += 2) {
    const x = xy[i]!; const y = xy[i + 1]!;
    if (x < minX) minX = x; if (x > maxX) maxX = x;
    if (y < minY) minY = y; if (y > maxY) maxY = y;
  }
  if (!Number.isFinite(minX)) { minX = 0; maxX = 1; minY = 0; maxY = 1; }
  const spanX = maxX - minX || 1;
  const spanY = maxY - minY || 1;
  const scale = Math.max(1e-9, Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY));
  return { scale, x0: minX, y0: minY, offX: (width - scale * spanX) / 2, offY: (height - scale * spanY) / 2 };
}

/** "#3b82c4" -> 0xAABBGGRR as ImageData's little-endian Uint32 view reads it. */
export function packColour(hex: string, alpha: number): number {
  const value = Number.parseInt(hex.slice(1), 16);
  return ((alpha << 24) | ((value & 0xff) << 16) | (value & 0xff00) | ((value >> 16) & 0xff)) >>> 0;
}

export interface RasterInput {
  /** Screen coordinates in CSS px per point (NaN = hidden). */
  readonly screen: Float32Array;
  /** Packed colour per point (packColour). */
  readonly colours: Uint32Array;
  readonly width: number;
  readonly height: number;
  readonly dpr: number;
  /** Side of a point's square in CSS px. */
  readonly size: number;
}

/** What rasterise needs of an ImageData (a structural type: main-side tests have no DOM types). */
export interface PixelBuffer { readonly data: Uint8ClampedArray; readonly width: number; readonly height: number }

export function rasterise(image: PixelBuffer, input: RasterInput): void {
  const pixels = new Uint32Array(image.data.buffer);
  pixels.fill(0);
  const w = image.width; const h = image.height;
  const side = Math.max(1, Math.round(input.size * input.dpr));
  const half = side >> 1;
  const n = input.colours.length;
  for (let i = 0; i < n; i++) {
    const sx = input.screen[2 * i]!;
    if (Number.isNaN(sx)) continue;
    const px = Math.round(sx * input.dpr) - half;
    const py = Math.round(input.screen[2 * i + 1]! * input.dpr) - half;
    if (px >= w || py >= h || px + side <= 0 || py + side <= 0) continue;
    const colour = input.colours[i]!;
    const xa = Math.max(0, px); const xb = Math.min(w, px + side);
    const ya = Math.max(0, py); const yb = Math.min(h, py + side);
    for (let y = ya; y < yb; y++) {
      const base = y * w;
      for (let x = xa; x < xb; x++) {
        // A translucent point never covers an opaque one already there.
        if ((colour >>> 24) === 255 || (pixels[base + x]! >>> 24) !== 255) pixels[base + x] = colour;
      }
    }
  }
}
