/**
 * Screen-space lookups for the embedding map (issue 14: hover at 100k points was a linear scan,
 * 128 ms). Points are bucketed into square cells of `cellPx` CSS pixels by a counting sort (O(N),
 * rebuilt whenever the view moves); the nearest point to the cursor is searched in the cells that
 * the search radius touches only. Hidden points carry NaN coordinates and are never indexed.
 */
export class ScreenGrid {
  private readonly columns: number;
  private readonly rows: number;
  /** Start of each cell's run in `order` (cells + 1 entries). */
  private readonly starts: Int32Array;
  /** Point indexes, grouped by cell. */
  private readonly order: Int32Array;

  constructor(private readonly xy: Float32Array, width: number, height: number, private readonly cellPx = 16) {
    this.columns = Math.max(1, Math.ceil(width / cellPx));
    this.rows = Math.max(1, Math.ceil(height / cellPx));
    const n = xy.length / 2;
    const cellOf = new Int32Array(n);
    const counts = new Int32Array(this.columns * this.rows + 1);
    for (let i = 0; i < n; i++) {
      const cell = this.cellAt(xy[2 * i]!, xy[2 * i + 1]!);
      cellOf[i] = cell;
      if (cell >= 0) counts[cell + 1]!++;
    }
    for (let c = 1; c < counts.length; c++) counts[c]! += counts[c - 1]!;
    this.starts = counts;
    this.order = new Int32Array(counts[counts.length - 1]!);
    const fill = counts.slice(0, -1);
    for (let i = 0; i < n; i++) {
      const cell = cellOf[i]!;
      if (cell >= 0) this.order[fill[cell]!++] = i;
    }
  }

  /** Index of the cell holding (x, y), or -1 off screen (or hidden: NaN). */
  private cellAt(x: number, y: number): number {
    const cx = Math.floor(x / this.cellPx);
    const cy = Math.floor(y / this.cellPx);
    if (!(cx >= 0 && cx < this.columns && cy >= 0 && cy < this.rows)) return -1;
    return cy * this.columns + cx;
  }

  /** The point nearest (x, y) within `radius` px, or -1. */
  nearest(x: number, y: number, radius: number): number {
    const x0 = Math.max(0, Math.floor((x - radius) / this.cellPx));
    const x1 = Math.min(this.columns - 1, Math.floor((x + radius) / this.cellPx));
    const y0 = Math.max(0, Math.floor((y - radius) / this.cellPx));
    const y1 = Math.min(this.rows - 1, Math.floor((y + radius) / this.cellPx));
    let best = -1;
    let bestDistance = radius * radius;
    for (let cy = y0; cy <= y1; cy++) {
      for (let cx = x0; cx <= x1; cx++) {
        const cell = cy * this.columns + cx;
        for (let k = this.starts[cell]!; k < this.starts[cell + 1]!; k++) {
          const i = this.order[k]!;
          const dx = this.xy[2 * i]! - x;
          const dy = this.xy[2 * i + 1]! - y;
          const d = dx * dx + dy * dy;
          if (d <= bestDistance) { bestDistance = d; best = i; }
        }
      }
    }
    return best;
  }

  /** Every indexed point inside the closed polygon `polygon` ([x0, y0, x1, y1, ...], screen px). */
  inside(polygon: readonly number[]): number[] {
    const found: number[] = [];
    if (polygon.length < 6) return found;
    let minX = Infinity; let maxX = -Infinity; let minY = Infinity; let maxY = -Infinity;
    for (let p = 0; p < polygon.length; p += 2) {
      minX = Math.min(minX, polygon[p]!); maxX = Math.max(maxX, polygon[p]!);
      minY = Math.min(minY, polygon[p + 1]!); maxY = Math.max(maxY, polygon[p + 1]!);
    }
    const x0 = Math.max(0, Math.floor(minX / this.cellPx));
    const x1 = Math.min(this.columns - 1, Math.floor(maxX / this.cellPx));
    const y0 = Math.max(0, Math.floor(minY / this.cellPx));
    const y1 = Math.min(this.rows - 1, Math.floor(maxY / this.cellPx));
    for (let cy = y0; cy <= y1; cy++) {
      for (let cx = x0; cx <= x1; cx++) {
        const cell = cy * this.columns + cx;
        for (let k = this.starts[cell]!; k < this.starts[cell + 1]!; k++) {
          const i = this.order[k]!;
          if (pointInPolygon(this.xy[2 * i]!, this.xy[2 * i + 1]!, polygon)) found.push(i);
        }
      }
    }
    return found.sort((a, b) => a - b);
  }
}

/** Even-odd rule (ray casting to +x). */
export function pointInPolygon(x: number, y: number, polygon: readonly number[]): boolean {
  let inside = false;
  const n = polygon.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = polygon[2 * i]!; const yi = polygon[2 * i + 1]!;
    const xj = polygon[2 * j]!; const yj = polygon[2 * j + 1]!;
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
