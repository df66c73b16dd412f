/**
 * A deterministic, generated image data set: the app's bundled sample and the fixture of the
 * learning tests. Generation only (no file system); writing PNGs is someone else's job.
 *
 * Every class is defined by SHAPE or TEXTURE. Colours, position, scale, rotation and background
 * (flat, gradient, light noise) are drawn independently of the class, because MoCo's colour
 * jitter and random grayscale destroy colour cues anyway; foreground and background always
 * differ in luma so the shape survives grayscale. Edges are antialiased by 2x2 supersampling.
 *
 * Each image depends only on (className, instanceIndex, size, seed), never on what else was
 * generated, so any single image can be regenerated.
 */
import type { RgbImage } from '../ml/augment.js';
import { Rng } from '../ml/rng.js';

export const SAMPLE_CLASSES = [
  'circle',
  'square',
  'triangle',
  'plus',
  'ring',
  'star',
  'horizontal-stripes',
  'diagonal-stripes',
  'checkerboard',
  'dots',
] as const;

export type SampleClass = (typeof SAMPLE_CLASSES)[number];

export interface SampleImage {
  className: SampleClass;
  /** Instance index within its class. */
  index: number;
  image: RgbImage;
}

export interface SampleSetOptions {
  perClass: number;
  /** Side of the square images, in pixels. */
  size: number;
  seed: number;
}

type Rgb = [number, number, number];

/** Coverage test in the shape's / pattern's own coordinates. */
type Inside = (u: number, v: number) => boolean;

/** Mix (seed, class, instance) into one well-spread 32-bit seed. */
function mixSeed(seed: number, classIndex: number, instance: number): number {
  let h = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = (h ^ Math.imul(classIndex + 1, 0x27d4eb2d)) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ Math.imul(instance + 1, 0x165667b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

function hsvToRgb(h: number, s: number, v: number): Rgb {
  const h6 = (h - Math.floor(h)) * 6;
  const sector = Math.floor(h6) % 6;
  const f = h6 - Math.floor(h6);
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  switch (sector) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

function luma(c: Rgb): number {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

/** A light/dark colour pair with a luma gap of at least 0.3, hues independent. */
function drawColours(rng: Rng): { fg: Rgb; bg: Rgb } {
  for (;;) {
    const lightBackground = rng.bernoulli(0.5);
    const light = hsvToRgb(rng.next(), rng.uniform(0, 0.45), rng.uniform(0.78, 1));
    const dark = hsvToRgb(rng.next(), rng.uniform(0.3, 0.95), rng.uniform(0.12, 0.55));
    const pair = lightBackground ? { fg: dark, bg: light } : { fg: light, bg: dark };
    if (Math.abs(luma(pair.fg) - luma(pair.bg)) >= 0.3) return pair;
  }
}

/** Shape classes: unit-sized shapes centred at the origin (they fit in the unit disc). */
function shapeInside(className: SampleClass, rng: Rng): Inside | null {
  switch (className) {
    case 'circle': {
      const squash = rng.uniform(0.88, 1); // a slightly elliptical circle now and then
      return (u, v) => u * u + (v * v) / (squash * squash) < 1;
    }
    case 'square': {
      const half = Math.SQRT1_2 * rng.uniform(0.95, 1.05);
      return (u, v) => Math.abs(u) < half && Math.abs(v) < half;
    }
    case 'triangle':
      // Equilateral, circumradius 1, one vertex at -v (pointing up before rotation): three half-planes.
      return (u, v) => v < 0.5 && 0.8660254 * u - 0.5 * v < 0.5 && -0.8660254 * u - 0.5 * v < 0.5;
    case 'plus': {
      const arm = rng.uniform(0.2, 0.3);
      return (u, v) => (Math.abs(u) < arm && Math.abs(v) < 1) || (Math.abs(v) < arm && Math.abs(u) < 1);
    }
    case 'ring': {
      const inner = rng.uniform(0.5, 0.68);
      const inner2 = inner * inner;
      return (u, v) => {
        const r2 = u * u + v * v;
        return r2 < 1 && r2 > inner2;
      };
    }
    case 'star': {
      // Five points; fold the angle into one half-spike and test against the edge from the
      // outer vertex (1, 0) to the inner vertex (ri, 36 degrees).
      const ri = rng.uniform(0.4, 0.5);
      const sector = (2 * Math.PI) / 5;
      const bx = ri * Math.cos(sector / 2);
      const by = ri * Math.sin(sector / 2);
      return (u, v) => {
        const r = Math.sqrt(u * u + v * v);
        if (r >= 1) return false;
        if (r <= ri * 0.8) return true;
        let a = Math.atan2(v, u) + Math.PI / 2; // a spike points up
        a -= sector * Math.floor(a / sector);
        a = Math.abs(a - sector / 2);
        a = sector / 2 - a; // 0 at a spike tip, sector/2 between spikes
        const px = r * Math.cos(a);
        const py = r * Math.sin(a);
        // Inside when on the origin side of the line A=(1,0) -> B.
        return (bx - 1) * py - by * (px - 1) > 0;
      };
    }
    default:
      return null;
  }
}

/** Texture classes: patterns in units of one period (u across, v along). */
function textureInside(className: SampleClass, rng: Rng): Inside {
  switch (className) {
    case 'horizontal-stripes':
    case 'diagonal-stripes': {
      const duty = rng.uniform(0.4, 0.6);
      return (_u, v) => v - Math.floor(v) < duty;
    }
    case 'checkerboard':
      return (u, v) => ((Math.floor(u) + Math.floor(v)) & 1) === 0;
    case 'dots': {
      const radius = rng.uniform(0.2, 0.3);
      const r2 = radius * radius;
      const staggered = rng.bernoulli(0.5);
      return (u, v) => {
        const row = Math.floor(v);
        const shifted = staggered && (row & 1) === 1 ? u + 0.5 : u;
        const du = shifted - Math.floor(shifted) - 0.5;
        const dv = v - row - 0.5;
        return du * du + dv * dv < r2;
      };
    }
    default:
      throw new Error(`not a texture class: ${className}`);
  }
}

function textureAngle(className: SampleClass, rng: Rng): number {
  const wobble = rng.uniform(-8, 8);
  if (className === 'diagonal-stripes') return ((rng.bernoulli(0.5) ? 45 : -45) + wobble) * (Math.PI / 180);
  if (className === 'dots') return rng.uniform(-20, 20) * (Math.PI / 180);
  return wobble * (Math.PI / 180);
}

function isSampleClass(name: string): name is SampleClass {
  return (SAMPLE_CLASSES as readonly string[]).includes(name);
}

/** One image of `className`: deterministic in (className, instanceIndex, size, seed). */
export function generateSampleImage(className: string, instanceIndex: number, size: number, seed: number): RgbImage {
  if (!isSampleClass(className)) {
    throw new Error(`unknown sample class '${className}'; expected one of ${SAMPLE_CLASSES.join(', ')}`);
  }
  if (!Number.isInteger(size) || size < 8) throw new Error(`size: must be an integer >= 8, got ${size}`);
  if (!Number.isInteger(instanceIndex) || instanceIndex < 0) {
    throw new Error(`instanceIndex: must be a non-negative integer, got ${instanceIndex}`);
  }
  const rng = new Rng(mixSeed(seed, SAMPLE_CLASSES.indexOf(className), instanceIndex));
  const { fg, bg } = drawColours(rng);

  // Background: flat, a linear gradient towards a second nearby colour, or light noise.
  const backgroundKind = rng.int(3);
  const shift = (): number => rng.uniform(-0.25, 0.25);
  const bg2: Rgb = backgroundKind === 1 ? [bg[0] + shift(), bg[1] + shift(), bg[2] + shift()] : bg;
  const gradAngle = rng.uniform(0, 2 * Math.PI);
  const gdx = Math.cos(gradAngle) / size;
  const gdy = Math.sin(gradAngle) / size;
  const noise = backgroundKind === 2 ? rng.uniform(0.04, 0.1) : 0;

  // Geometry: shapes get a centre, radius and rotation; textures a period, angle and phase.
  const shape = shapeInside(className, rng);
  let inside: Inside;
  let cx: number;
  let cy: number;
  let scale: number; // pixels per unit of the shape / pattern coordinates
  let angle: number;
  let phaseU = 0;
  let phaseV = 0;
  if (shape) {
    inside = shape;
    // Triangles and squares cover less of their bounding disc than the others: draw them larger.
    const grow = className === 'triangle' ? 1.2 : className === 'square' ? 1.1 : 1;
    scale = size * grow * rng.uniform(0.24, 0.4);
    const room = Math.max(0, size / 2 - scale * 1.02);
    cx = size / 2 + rng.uniform(-room, room);
    cy = size / 2 + rng.uniform(-room, room);
    angle = className === 'plus' ? rng.uniform(-0.3, 0.3) : rng.uniform(0, 2 * Math.PI);
  } else {
    inside = textureInside(className, rng);
    scale = Math.max(4, size * rng.uniform(0.12, 0.22));
    cx = size / 2;
    cy = size / 2;
    angle = textureAngle(className, rng);
    phaseU = rng.next();
    phaseV = rng.next();
  }
  const cos = Math.cos(angle) / scale;
  const sin = Math.sin(angle) / scale;

  const data = new Uint8Array(size * size * 3);
  const sub = [0.25, 0.75] as const;
  let o = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let covered = 0;
      for (const sy of sub) {
        const dy = y + sy - cy;
        for (const sx of sub) {
          const dx = x + sx - cx;
          // Rotate the pixel into the shape's frame (inverse rotation) and scale to units.
          const u = cos * dx + sin * dy + phaseU;
          const v = -sin * dx + cos * dy + phaseV;
          if (inside(u, v)) covered++;
        }
      }
      const a = covered / 4;
      const g = 0.5 + (x - size / 2) * gdx + (y - size / 2) * gdy; // gradient position, ~[0, 1]
      const jitter = noise > 0 ? rng.uniform(-noise, noise) : 0;
      for (let c = 0; c < 3; c++) {
        const back = bg[c]! + (bg2[c]! - bg[c]!) * g + jitter;
        const value = (back + (fg[c]! - back) * a) * 255;
        data[o++] = value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
      }
    }
  }
  return { width: size, height: size, data };
}

/** `perClass` images of every class, class by class, each deterministic in (class, index, size, seed). */
export function generateSampleSet(options: SampleSetOptions): SampleImage[] {
  const { perClass, size, seed } = options;
  if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`perClass: must be a positive integer, got ${perClass}`);
  const set: SampleImage[] = [];
  for (const className of SAMPLE_CLASSES) {
    for (let index = 0; index < perClass; index++) {
      set.push({ className, index, image: generateSampleImage(className, index, size, seed) });
    }
  }
  return set;
}
