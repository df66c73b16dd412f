/**
 * MoCo data augmentations (TwoCropsTransform) on small RGB images held in plain typed arrays.
 *
 * Follows the reference pipelines (facebookresearch/moco main_moco.py, torchvision semantics):
 *   v1: RandomResizedCrop -> RandomGrayscale -> ColorJitter -> RandomHorizontalFlip -> normalise
 *   v2: RandomResizedCrop -> RandomApply(ColorJitter, p=0.8) -> RandomGrayscale
 *       -> RandomApply(GaussianBlur, p=0.5) -> RandomHorizontalFlip -> normalise
 * Random numbers are drawn from the caller's `Rng` in exactly that order, so a seed reproduces
 * every view byte for byte.
 *
 * Deviations from the reference, all deliberate:
 * - Crop and resize are one bilinear pass from the source crop box straight to outputSize
 *   (align_corners=false sampling, edge clamped to the crop box). No antialiasing when
 *   downscaling: the images are small and this is an augmentation, not a display path.
 * - Pixels stay float in [0, 1] between steps (like torchvision on tensors, clamped after each
 *   jitter op); the PIL pipeline of the reference rounds to uint8 after every step.
 * - Gaussian blur sigma is drawn in the reference's units (pixels of a 224-px crop) and, by
 *   default, scaled by outputSize / 224 so the blur is the same relative to the image. At 32 px
 *   it becomes negligible, which matches the CIFAR demo (no blur). Set
 *   `blurScaleWithOutputSize: false` to use the drawn sigma in output pixels as is.
 * - The horizontal flip is applied while writing the normalised output. Every step after the
 *   crop is mirror-symmetric (pointwise ops, global means, a symmetric kernel), so this gives
 *   the same result as flipping last, and random draws still happen in the reference order.
 */
import type { Rng } from './rng.js';

/** An 8-bit RGB image, HWC (row-major, 3 bytes per pixel). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export type AugmentationPreset = 'v1' | 'v2';

export interface AugmentationConfig {
  readonly preset: AugmentationPreset;
  /** Side of the square output, in pixels. */
  readonly outputSize: number;
  /** RandomResizedCrop: range of the crop's area as a fraction of the image area. */
  readonly scale: readonly [number, number];
  /** RandomResizedCrop: range of the crop's aspect ratio (width / height), sampled log-uniformly. */
  readonly ratio: readonly [number, number];
  /** ColorJitter strengths. Brightness/contrast/saturation factors ~ U[max(0, 1-s), 1+s]. */
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
  /** Hue shift ~ U[-hue, hue] of a full turn; 0 <= hue <= 0.5. */
  readonly hue: number;
  /** Probability that ColorJitter is applied (v1 reference: 1; v2: 0.8). */
  readonly jitterProbability: number;
  readonly grayscaleProbability: number;
  /** Probability of Gaussian blur (v2 only; must be 0 for v1, whose pipeline has no blur step). */
  readonly blurProbability: number;
  /** Blur sigma range, in pixels of a `blurReferenceSize`-pixel crop. */
  readonly blurSigma: readonly [number, number];
  /** Scale the drawn sigma by outputSize / blurReferenceSize (see the file comment). */
  readonly blurScaleWithOutputSize: boolean;
  readonly blurReferenceSize: number;
  readonly flipProbability: number;
}

export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';

/** A crop box in source pixels. */
export interface CropBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Everything one augmentation drew; plain data, JSON-serialisable. */
export interface AugmentationParams {
  crop: CropBox;
  /** True when the 10 tries failed and the centre-crop fallback was used. */
  cropFallback: boolean;
  jitter: {
    applied: boolean;
    /** Multiplicative factors (1 = unchanged) and the hue shift (0 = unchanged; fraction of a turn). */
    brightness: number;
    contrast: number;
    saturation: number;
    hue: number;
    /** Order the four ops ran in (a permutation); empty when not applied. */
    order: JitterOp[];
  };
  grayscale: boolean;
  /** Drawn sigma in reference units, or null when no blur was applied. */
  blurSigma: number | null;
  /** Sigma actually used, in output pixels, or null when no blur was applied. */
  blurSigmaPixels: number | null;
  flipped: boolean;
}

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Luma weights used by grayscale, contrast and saturation (ITU-R 601-2). */
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

const JITTER_OPS: readonly JitterOp[] = ['brightness', 'contrast', 'saturation', 'hue'];

export function defaultAugmentationConfig(preset: AugmentationPreset, outputSize: number): AugmentationConfig {
  const v2 = preset === 'v2';
  return {
    preset,
    outputSize,
    scale: [0.2, 1.0],
    ratio: [3 / 4, 4 / 3],
    brightness: 0.4,
    contrast: 0.4,
    saturation: 0.4,
    hue: v2 ? 0.1 : 0.4,
    jitterProbability: v2 ? 0.8 : 1,
    grayscaleProbability: 0.2,
    blurProbability: v2 ? 0.5 : 0,
    blurSigma: [0.1, 2.0],
    blurScaleWithOutputSize: true,
    blurReferenceSize: 224,
    flipProbability: 0.5,
  };
}

/** Throws an Error naming the offending field (`augmentation.<field>: ...`) if the config is invalid. */
export function validateAugmentationConfig(config: AugmentationConfig): void {
  const fail = (field: string, message: string): never => {
    throw new Error(`augmentation.${field}: ${message}`);
  };
  const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const pair = (v: unknown): string => (Array.isArray(v) ? `[${v.map(String).join(', ')}]` : String(v));
  const isPair = (v: unknown): v is readonly [number, number] =>
    Array.isArray(v) && v.length === 2 && isNum(v[0]) && isNum(v[1]);

  const preset: unknown = config.preset; // configs arrive from JSON; the type is not a guarantee
  if (preset !== 'v1' && preset !== 'v2') fail('preset', `must be 'v1' or 'v2', got ${String(preset)}`);
  if (!Number.isInteger(config.outputSize) || config.outputSize < 1) {
    fail('outputSize', `must be a positive integer, got ${String(config.outputSize)}`);
  }
  if (!isPair(config.scale) || !(config.scale[0] > 0 && config.scale[0] <= config.scale[1] && config.scale[1] <= 1)) {
    fail('scale', `must satisfy 0 < min <= max <= 1, got ${pair(config.scale)}`);
  }
  if (!isPair(config.ratio) || !(config.ratio[0] > 0 && config.ratio[0] <= config.ratio[1])) {
    fail('ratio', `must satisfy 0 < min <= max, got ${pair(config.ratio)}`);
  }
  for (const field of ['brightness', 'contrast', 'saturation'] as const) {
    const v = config[field];
    if (!isNum(v) || v < 0) fail(field, `must be a finite number >= 0, got ${String(v)}`);
  }
  if (!isNum(config.hue) || config.hue < 0 || config.hue > 0.5) fail('hue', `must be in [0, 0.5], got ${String(config.hue)}`);
  for (const field of ['jitterProbability', 'grayscaleProbability', 'blurProbability', 'flipProbability'] as const) {
    const v = config[field];
    if (!isNum(v) || v < 0 || v > 1) fail(field, `must be a probability in [0, 1], got ${String(v)}`);
  }
  if (config.preset === 'v1' && config.blurProbability !== 0) {
    fail('blurProbability', `must be 0 for preset 'v1' (its pipeline has no blur step), got ${config.blurProbability}`);
  }
  if (!isPair(config.blurSigma) || !(config.blurSigma[0] > 0 && config.blurSigma[0] <= config.blurSigma[1])) {
    fail('blurSigma', `must satisfy 0 < min <= max, got ${pair(config.blurSigma)}`);
  }
  if (typeof config.blurScaleWithOutputSize !== 'boolean') {
    fail('blurScaleWithOutputSize', `must be a boolean, got ${String(config.blurScaleWithOutputSize)}`);
  }
  if (!isNum(config.blurReferenceSize) || config.blurReferenceSize <= 0) {
    fail('blurReferenceSize', `must be a positive number, got ${String(config.blurReferenceSize)}`);
  }
}

function checkImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image: width and height must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(`image: data has ${data.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`);
  }
}

function checkOut(out: Float32Array, offset: number, size: number): void {
  const n = size * size * 3;
  if (!Number.isInteger(offset) || offset < 0 || offset + n > out.length) {
    throw new Error(`output: need ${n} floats at offset ${offset}, buffer has ${out.length}`);
  }
}

// Scratch buffers reused across calls (everything here is synchronous), so augmenting a batch
// allocates nothing per image beyond a few small per-call tables.
let work = new Float32Array(0);
let blurTmp = new Float32Array(0);
function workspace(n: number): Float32Array {
  if (work.length < n) work = new Float32Array(n);
  return work;
}
function blurWorkspace(n: number): Float32Array {
  if (blurTmp.length < n) blurTmp = new Float32Array(n);
  return blurTmp;
}

/** Python's round(): halves go to the even neighbour (torchvision uses it for crop sizes). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision RandomResizedCrop.get_params. */
function sampleCrop(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): { box: CropBox; fallback: boolean } {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(height - h + 1);
      const x = rng.int(width - w + 1);
      return { box: { x, y, width: w, height: h }, fallback: false };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) {
    h = roundHalfEven(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    w = roundHalfEven(h * ratio[1]);
  }
  return { box: { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h }, fallback: true };
}

/**
 * Bilinear resampling: output pixel (ox, oy) samples the source at
 * (ax * ox + bx, ay * oy + by), clamped to [loX, hiX] x [loY, hiY]. Writes floats in [0, 1].
 */
function resampleBilinear(
  image: RgbImage,
  size: number,
  ax: number, bx: number, loX: number, hiX: number,
  ay: number, by: number, loY: number, hiY: number,
  dst: Float32Array,
): void {
  const { width, data } = image;
  const x0s = new Int32Array(size);
  const x1s = new Int32Array(size);
  const wxs = new Float32Array(size);
  for (let ox = 0; ox < size; ox++) {
    const sx = Math.min(hiX, Math.max(loX, ax * ox + bx));
    const x0 = Math.floor(sx);
    x0s[ox] = x0 * 3;
    x1s[ox] = Math.min(x0 + 1, hiX) * 3;
    wxs[ox] = sx - x0;
  }
  const inv255 = 1 / 255;
  let d = 0;
  for (let oy = 0; oy < size; oy++) {
    const sy = Math.min(hiY, Math.max(loY, ay * oy + by));
    const y0 = Math.floor(sy);
    const wy = sy - y0;
    const row0 = y0 * width * 3;
    const row1 = Math.min(y0 + 1, hiY) * width * 3;
    for (let ox = 0; ox < size; ox++) {
      const i00 = row0 + x0s[ox]!;
      const i01 = row0 + x1s[ox]!;
      const i10 = row1 + x0s[ox]!;
      const i11 = row1 + x1s[ox]!;
      const wx = wxs[ox]!;
      for (let c = 0; c < 3; c++) {
        const top = data[i00 + c]! + (data[i01 + c]! - data[i00 + c]!) * wx;
        const bottom = data[i10 + c]! + (data[i11 + c]! - data[i10 + c]!) * wx;
        dst[d++] = (top + (bottom - top) * wy) * inv255;
      }
    }
  }
}

/** Resample the crop box (integer source pixels) to size x size, align_corners=false. */
function cropResize(image: RgbImage, box: CropBox, size: number, dst: Float32Array): void {
  const sxScale = box.width / size;
  const syScale = box.height / size;
  resampleBilinear(
    image, size,
    sxScale, box.x + 0.5 * sxScale - 0.5, box.x, box.x + box.width - 1,
    syScale, box.y + 0.5 * syScale - 0.5, box.y, box.y + box.height - 1,
    dst,
  );
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function adjustBrightness(buf: Float32Array, n: number, factor: number): void {
  for (let i = 0; i < n; i++) buf[i] = clamp01(buf[i]! * factor);
}

function adjustContrast(buf: Float32Array, n: number, factor: number): void {
  let sum = 0;
  for (let i = 0; i < n; i += 3) sum += LUMA_R * buf[i]! + LUMA_G * buf[i + 1]! + LUMA_B * buf[i + 2]!;
  const bias = (1 - factor) * (sum / (n / 3));
  for (let i = 0; i < n; i++) buf[i] = clamp01(factor * buf[i]! + bias);
}

function adjustSaturation(buf: Float32Array, n: number, factor: number): void {
  const keep = 1 - factor;
  for (let i = 0; i < n; i += 3) {
    const r = buf[i]!;
    const g = buf[i + 1]!;
    const b = buf[i + 2]!;
    const grey = keep * (LUMA_R * r + LUMA_G * g + LUMA_B * b);
    buf[i] = clamp01(factor * r + grey);
    buf[i + 1] = clamp01(factor * g + grey);
    buf[i + 2] = clamp01(factor * b + grey);
  }
}

/** Rotate hue by `shift` of a full turn in HSV (torchvision's _rgb2hsv / _hsv2rgb). */
function adjustHue(buf: Float32Array, n: number, shift: number): void {
  if (shift === 0) return;
  for (let i = 0; i < n; i += 3) {
    const r = buf[i]!;
    const g = buf[i + 1]!;
    const b = buf[i + 2]!;
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    const cr = maxc - minc;
    if (cr === 0) continue; // grey: hue is undefined and the pixel is unchanged
    const s = cr / maxc;
    const rc = (maxc - r) / cr;
    const gc = (maxc - g) / cr;
    const bc = (maxc - b) / cr;
    let h: number;
    if (maxc === r) h = bc - gc;
    else if (maxc === g) h = 2 + rc - bc;
    else h = 4 + gc - rc;
    h = h / 6 + shift;
    h -= Math.floor(h);
    const h6 = h * 6;
    let sector = Math.floor(h6);
    const f = h6 - sector;
    if (sector >= 6) sector -= 6;
    const v = maxc;
    const p = clamp01(v * (1 - s));
    const q = clamp01(v * (1 - s * f));
    const t = clamp01(v * (1 - s * (1 - f)));
    switch (sector) {
      case 0: buf[i] = v; buf[i + 1] = t; buf[i + 2] = p; break;
      case 1: buf[i] = q; buf[i + 1] = v; buf[i + 2] = p; break;
      case 2: buf[i] = p; buf[i + 1] = v; buf[i + 2] = t; break;
      case 3: buf[i] = p; buf[i + 1] = q; buf[i + 2] = v; break;
      case 4: buf[i] = t; buf[i + 1] = p; buf[i + 2] = v; break;
      default: buf[i] = v; buf[i + 1] = p; buf[i + 2] = q; break;
    }
  }
}

function toGrayscale(buf: Float32Array, n: number): void {
  for (let i = 0; i < n; i += 3) {
    const grey = LUMA_R * buf[i]! + LUMA_G * buf[i + 1]! + LUMA_B * buf[i + 2]!;
    buf[i] = grey;
    buf[i + 1] = grey;
    buf[i + 2] = grey;
  }
}

/** Separable Gaussian blur, kernel radius ceil(3 sigma), edges clamped. */
function gaussianBlur(buf: Float32Array, size: number, sigma: number): void {
  const radius = Math.ceil(3 * sigma);
  if (radius < 1) return;
  const kernel = new Float32Array(2 * radius + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) {
    const w = Math.exp(-(k * k) / (2 * sigma * sigma));
    kernel[k + radius] = w;
    total += w;
  }
  for (let k = 0; k < kernel.length; k++) kernel[k] = kernel[k]! / total;
  const n = size * size * 3;
  const tmp = blurWorkspace(n);
  const last = size - 1;
  // Horizontal: buf -> tmp.
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    for (let x = 0; x < size; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = -radius; k <= radius; k++) {
        let xx = x + k;
        xx = xx < 0 ? 0 : xx > last ? last : xx;
        const w = kernel[k + radius]!;
        const j = row + xx * 3;
        r += w * buf[j]!;
        g += w * buf[j + 1]!;
        b += w * buf[j + 2]!;
      }
      const o = row + x * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }
  // Vertical: tmp -> buf.
  const stride = size * 3;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = -radius; k <= radius; k++) {
        let yy = y + k;
        yy = yy < 0 ? 0 : yy > last ? last : yy;
        const w = kernel[k + radius]!;
        const j = yy * stride + x * 3;
        r += w * tmp[j]!;
        g += w * tmp[j + 1]!;
        b += w * tmp[j + 2]!;
      }
      const o = y * stride + x * 3;
      buf[o] = r;
      buf[o + 1] = g;
      buf[o + 2] = b;
    }
  }
}

/** Write `src` (floats in [0, 1], HWC) normalised into out[offset...], mirrored if `flip`. */
function writeNormalized(src: Float32Array, size: number, flip: boolean, out: Float32Array, offset: number): void {
  const s0 = 1 / IMAGENET_STD[0];
  const s1 = 1 / IMAGENET_STD[1];
  const s2 = 1 / IMAGENET_STD[2];
  const b0 = -IMAGENET_MEAN[0] * s0;
  const b1 = -IMAGENET_MEAN[1] * s1;
  const b2 = -IMAGENET_MEAN[2] * s2;
  let o = offset;
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    for (let x = 0; x < size; x++) {
      const j = row + (flip ? size - 1 - x : x) * 3;
      out[o] = src[j]! * s0 + b0;
      out[o + 1] = src[j + 1]! * s1 + b1;
      out[o + 2] = src[j + 2]! * s2 + b2;
      o += 3;
    }
  }
}

function drawFactor(strength: number, rng: Rng): number {
  return strength > 0 ? rng.uniform(Math.max(0, 1 - strength), 1 + strength) : 1;
}

/** torchvision ColorJitter's draws: random order (randperm(4)), then factors b, c, s, h. */
function drawJitter(config: AugmentationConfig, rng: Rng): AugmentationParams['jitter'] {
  const perm = rng.permutation(4);
  const brightness = drawFactor(config.brightness, rng);
  const contrast = drawFactor(config.contrast, rng);
  const saturation = drawFactor(config.saturation, rng);
  const hue = config.hue > 0 ? rng.uniform(-config.hue, config.hue) : 0;
  const order = Array.from(perm, (index) => JITTER_OPS[index]!);
  return { applied: true, brightness, contrast, saturation, hue, order };
}

/** The jitter ops, in the drawn order. */
function applyJitter(buf: Float32Array, n: number, jitter: AugmentationParams['jitter']): void {
  for (const op of jitter.order) {
    if (op === 'brightness') adjustBrightness(buf, n, jitter.brightness);
    else if (op === 'contrast') adjustContrast(buf, n, jitter.contrast);
    else if (op === 'saturation') adjustSaturation(buf, n, jitter.saturation);
    else adjustHue(buf, n, jitter.hue);
  }
}

const NO_JITTER = (): AugmentationParams['jitter'] => ({
  applied: false, brightness: 1, contrast: 1, saturation: 1, hue: 0, order: [],
});

/**
 * Every random choice of one view, drawn in the reference order. The draws depend only on the
 * image's size and the config, never on its pixels, so they can be made here and the pixels
 * rendered elsewhere (augmentation workers) with the same result, bit for bit.
 */
export function drawAugmentation(width: number, height: number, config: AugmentationConfig, rng: Rng): AugmentationParams {
  const { box, fallback } = sampleCrop(width, height, config.scale, config.ratio, rng);
  let jitter = NO_JITTER();
  let grayscale: boolean;
  let blurSigma: number | null = null;
  let blurSigmaPixels: number | null = null;
  if (config.preset === 'v1') {
    grayscale = rng.bernoulli(config.grayscaleProbability);
    if (rng.bernoulli(config.jitterProbability)) jitter = drawJitter(config, rng);
  } else {
    if (rng.bernoulli(config.jitterProbability)) jitter = drawJitter(config, rng);
    grayscale = rng.bernoulli(config.grayscaleProbability);
    if (rng.bernoulli(config.blurProbability)) {
      blurSigma = rng.uniform(config.blurSigma[0], config.blurSigma[1]);
      blurSigmaPixels = config.blurScaleWithOutputSize ? (blurSigma * config.outputSize) / config.blurReferenceSize : blurSigma;
    }
  }
  const flipped = rng.bernoulli(config.flipProbability);
  return { crop: box, cropFallback: fallback, jitter, grayscale, blurSigma, blurSigmaPixels, flipped };
}

/** Renders the view `params` describe (from drawAugmentation) into `out` at `offset`, in the preset's op order. */
export function renderAugmentation(image: RgbImage, config: AugmentationConfig, params: AugmentationParams, out: Float32Array, offset: number): void {
  checkImage(image);
  const size = config.outputSize;
  checkOut(out, offset, size);
  const n = size * size * 3;
  const buf = workspace(n);
  cropResize(image, params.crop, size, buf);
  if (config.preset === 'v1') {
    if (params.grayscale) toGrayscale(buf, n);
    if (params.jitter.applied) applyJitter(buf, n, params.jitter);
  } else {
    if (params.jitter.applied) applyJitter(buf, n, params.jitter);
    if (params.grayscale) toGrayscale(buf, n);
    if (params.blurSigmaPixels !== null) gaussianBlur(buf, size, params.blurSigmaPixels);
  }
  writeNormalized(buf, size, params.flipped, out, offset);
}

/**
 * One random view of `image`, written normalised (HWC, outputSize^2 * 3 floats) into
 * `out` at `offset`. Returns every random choice made.
 */
export function augment(
  image: RgbImage,
  config: AugmentationConfig,
  rng: Rng,
  out: Float32Array,
  offset: number,
): AugmentationParams {
  validateAugmentationConfig(config);
  checkImage(image);
  checkOut(out, offset, config.outputSize);
  const params = drawAugmentation(image.width, image.height, config, rng);
  renderAugmentation(image, config, params, out, offset);
  return params;
}

/**
 * MoCo's TwoCropsTransform: two independent draws of the same transform (query first, then key,
 * from the same `rng`), each written at `offset` of its own buffer.
 */
export function twoCropsTransform(
  image: RgbImage,
  config: AugmentationConfig,
  rng: Rng,
  queryOut: Float32Array,
  keyOut: Float32Array,
  offset: number,
): { query: AugmentationParams; key: AugmentationParams } {
  const query = augment(image, config, rng, queryOut, offset);
  const key = augment(image, config, rng, keyOut, offset);
  return { query, key };
}

/**
 * Deterministic evaluation view, the reference's Resize(256) + CenterCrop(224) at any size:
 * the shorter side is resized to round(outputSize * 256 / 224), the centre outputSize square is
 * kept, then normalised. Done as one bilinear pass (no antialiasing). Returns the region of the
 * source that the output covers, in (possibly fractional) source pixels.
 */
export function evalTransform(image: RgbImage, outputSize: number, out: Float32Array, offset: number): CropBox {
  checkImage(image);
  if (!Number.isInteger(outputSize) || outputSize < 1) {
    throw new Error(`outputSize: must be a positive integer, got ${outputSize}`);
  }
  checkOut(out, offset, outputSize);
  const { width, height } = image;
  const resizeTo = Math.round((outputSize * 256) / 224);
  // torchvision Resize(int): shorter side -> resizeTo, longer side truncated proportionally.
  let newW: number;
  let newH: number;
  if (width <= height) {
    newW = resizeTo;
    newH = Math.floor((resizeTo * height) / width);
  } else {
    newH = resizeTo;
    newW = Math.floor((resizeTo * width) / height);
  }
  // torchvision CenterCrop offsets, in resized pixels.
  const left = roundHalfEven((newW - outputSize) / 2);
  const top = roundHalfEven((newH - outputSize) / 2);
  const fx = width / newW;
  const fy = height / newH;
  const buf = workspace(outputSize * outputSize * 3);
  resampleBilinear(
    image, outputSize,
    fx, (left + 0.5) * fx - 0.5, 0, width - 1,
    fy, (top + 0.5) * fy - 0.5, 0, height - 1,
    buf,
  );
  writeNormalized(buf, outputSize, false, out, offset);
  return { x: left * fx, y: top * fy, width: outputSize * fx, height: outputSize * fy };
}

/** Undo the ImageNet normalisation of one size x size HWC view, for previews. */
export function denormalizeToRgb(values: Float32Array, offset: number, size: number): Uint8Array {
  checkOut(values, offset, size);
  const n = size * size * 3;
  const rgb = new Uint8Array(n);
  for (let i = 0; i < n; i += 3) {
    for (let c = 0; c < 3; c++) {
      const v = (values[offset + i + c]! * IMAGENET_STD[c]! + IMAGENET_MEAN[c]!) * 255;
      rgb[i + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return rgb;
}
