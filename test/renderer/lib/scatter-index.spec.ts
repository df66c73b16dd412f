/** The map's screen-space index (issue 14) agrees with a brute-force scan, and the lasso with the polygon test. */
import { describe, expect, it } from 'vitest';
import { pointInPolygon, ScreenGrid } from '../../../renderer/src/lib/scatter-index.js';
import { fitTransform, packColour, rasterise } from '../../../renderer/src/lib/scatter-raster.js';

function randomScreen(n: number, width: number, height: number): Float32Array {
  let seed = 7;
  const random = (): number => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { xy[2 * i] = random() * width; xy[2 * i + 1] = random() * height; }
  xy[0] = NaN; xy[1] = NaN; // a hidden point is never found
  return xy;
}

function bruteNearest(xy: Float32Array, x: number, y: number, radius: number): number {
  let best = -1; let bestDistance = radius * radius;
  for (let i = 0; i < xy.length / 2; i++) {
    const d = (xy[2 * i]! - x) ** 2 + (xy[2 * i + 1]! - y) ** 2;
    if (d <= bestDistance) { bestDistance = d; best = i; }
  }
  return best;
}

describe('ScreenGrid', () => {
  const xy = randomScreen(20_000, 800, 500);
  const grid = new ScreenGrid(xy, 800, 500);

  it('finds the same nearest point as a linear scan, or none beyond the radius', () => {
    for (let k = 0; k < 200; k++) {
      const x = (k * 37) % 800; const y = (k * 53) % 500;
      const found = grid.nearest(x, y, 14);
      const expected = bruteNearest(xy, x, y, 14);
      if (expected < 0) expect(found).toBe(-1);
      else expect((xy[2 * found]! - x) ** 2 + (xy[2 * found + 1]! - y) ** 2).toBeCloseTo((xy[2 * expected]! - x) ** 2 + (xy[2 * expected + 1]! - y) ** 2, 3);
    }
    expect(new ScreenGrid(new Float32Array([100, 100]), 800, 500).nearest(300, 300, 14)).toBe(-1);
  });

  it('selects exactly the points inside a lasso polygon', () => {
    const polygon = [100, 100, 400, 120, 350, 400, 120, 300];
    const inside = grid.inside(polygon);
    const expected: number[] = [];
    for (let i = 0; i < xy.length / 2; i++) if (pointInPolygon(xy[2 * i]!, xy[2 * i + 1]!, polygon)) expected.push(i);
    expect(inside).toEqual(expected);
    expect(inside.length).toBeGreaterThan(1000);
    expect(grid.inside([1, 1, 2, 2])).toEqual([]);
  });
});

describe('scatter raster', () => {
  it('fits the data into the box and writes opaque points over faint ones', () => {
    const fit = fitTransform(new Float32Array([-1, -1, 1, 3]), 200, 100, 10);
    expect(fit.scale).toBeCloseTo(20);
    const image = { data: new Uint8ClampedArray(10 * 10 * 4), width: 10, height: 10 };
    const opaque = packColour('#ff0000', 255);
    const faint = packColour('#0000ff', 46);
    rasterise(image, { screen: new Float32Array([5, 5, 5, 5, NaN, NaN]), colours: new Uint32Array([opaque, faint, opaque]), width: 10, height: 10, dpr: 1, size: 2 });
    const pixels = new Uint32Array(image.data.buffer);
    expect(pixels[4 * 10 + 4]).toBe(opaque);
    expect([...image.data.subarray((4 * 10 + 4) * 4, (4 * 10 + 4) * 4 + 4)]).toEqual([255, 0, 0, 255]);
    expect(pixels.filter((p) => p !== 0)).toHaveLength(4);
  });
});
