/**
 * The correspondence between PyTorch state-dict keys and our encoder's variables (issue 11).
 *
 *   torchvision ResNet              ours (main/ml/resnet.ts)           layout change
 *   conv1.weight [O, I, kh, kw]     stem.conv [kh, kw, I, O]           OIHW -> HWIO
 *   bn1.weight / bias               stem.bn.gamma / beta
 *   bn1.running_mean / running_var  stem.bn.runningMean / runningVar   (num_batches_tracked: dropped on import, written on export)
 *   layerS.B.convK / bnK            layerS.B.convK / bnK
 *   layerS.B.downsample.0 / .1      layerS.B.shortcut.conv / .bn
 *   fc.weight [out, in]             head.fc.weight [in, out]           transposed (x @ W in tfjs)
 *   fc.0 / fc.2 (MoCo v2 MLP head)  head.hidden / head.fc
 *
 * Our small-image stem (3x3 stride-1 conv1, no max-pool: the CIFAR demo) uses the same keys with
 * a 3x3 conv1. The plan is derived from an EncoderConfig exactly as resnet.ts plans its blocks,
 * so every key is accounted for: a file with a key we do not know, or without one we need, is
 * refused with the keys named.
 */
import type { Architecture, HeadKind } from '../ml/resnet.js';

export interface EncoderShape {
  readonly architecture: Architecture;
  readonly widthMultiplier: number;
  readonly smallImageStem: boolean;
  readonly head: HeadKind;
  readonly dim: number;
}

export type Transform = 'conv' | 'linear' | 'vector';

export interface KeyPlan {
  readonly torch: string;
  readonly ours: string;
  readonly transform: Transform;
  /** PyTorch's shape. */
  readonly torchShape: readonly number[];
}

const STAGE_DEPTHS: Record<Architecture, readonly number[]> = { resnet18: [2, 2, 2, 2], resnet34: [3, 4, 6, 3], resnet50: [3, 4, 6, 3] };

export function scaledWidth(channels: number, widthMultiplier: number): number {
  return Math.max(4, Math.round(channels * widthMultiplier));
}

/** Every tensor of a torchvision-named encoder, with its variable of ours; BN num_batches_tracked listed in `batchNorms`. */
export function keyPlan(shape: EncoderShape): { keys: KeyPlan[]; batchNorms: string[]; featureChannels: number } {
  const keys: KeyPlan[] = [];
  const batchNorms: string[] = [];
  const conv = (torch: string, ours: string, cout: number, cin: number, k: number): void => {
    keys.push({ torch: `${torch}.weight`, ours, transform: 'conv', torchShape: [cout, cin, k, k] });
  };
  const bn = (torch: string, ours: string, c: number): void => {
    batchNorms.push(torch);
    keys.push({ torch: `${torch}.weight`, ours: `${ours}.gamma`, transform: 'vector', torchShape: [c] });
    keys.push({ torch: `${torch}.bias`, ours: `${ours}.beta`, transform: 'vector', torchShape: [c] });
    keys.push({ torch: `${torch}.running_mean`, ours: `${ours}.runningMean`, transform: 'vector', torchShape: [c] });
    keys.push({ torch: `${torch}.running_var`, ours: `${ours}.runningVar`, transform: 'vector', torchShape: [c] });
  };
  const linear = (torch: string, ours: string, fanOut: number, fanIn: number): void => {
    keys.push({ torch: `${torch}.weight`, ours: `${ours}.weight`, transform: 'linear', torchShape: [fanOut, fanIn] });
    keys.push({ torch: `${torch}.bias`, ours: `${ours}.bias`, transform: 'vector', torchShape: [fanOut] });
  };
  const stem = scaledWidth(64, shape.widthMultiplier);
  conv('conv1', 'stem.conv', stem, 3, shape.smallImageStem ? 3 : 7);
  bn('bn1', 'stem.bn', stem);
  const bottleneck = shape.architecture === 'resnet50';
  const expansion = bottleneck ? 4 : 1;
  let inChannels = stem;
  STAGE_DEPTHS[shape.architecture].forEach((depth, stage) => {
    const mid = scaledWidth([64, 128, 256, 512][stage]!, shape.widthMultiplier);
    const out = mid * expansion;
    for (let i = 0; i < depth; i++) {
      const name = `layer${stage + 1}.${i}`;
      const stride = stage > 0 && i === 0 ? 2 : 1;
      if (bottleneck) {
        conv(`${name}.conv1`, `${name}.conv1`, mid, inChannels, 1); bn(`${name}.bn1`, `${name}.bn1`, mid);
        conv(`${name}.conv2`, `${name}.conv2`, mid, mid, 3); bn(`${name}.bn2`, `${name}.bn2`, mid);
        conv(`${name}.conv3`, `${name}.conv3`, out, mid, 1); bn(`${name}.bn3`, `${name}.bn3`, out);
      } else {
        conv(`${name}.conv1`, `${name}.conv1`, mid, inChannels, 3); bn(`${name}.bn1`, `${name}.bn1`, mid);
        conv(`${name}.conv2`, `${name}.conv2`, out, mid, 3); bn(`${name}.bn2`, `${name}.bn2`, out);
      }
      if (stride !== 1 || inChannels !== out) {
        conv(`${name}.downsample.0`, `${name}.shortcut.conv`, out, inChannels, 1);
        bn(`${name}.downsample.1`, `${name}.shortcut.bn`, out);
      }
      inChannels = out;
    }
  });
  if (shape.head === 'mlp') {
    linear('fc.0', 'head.hidden', inChannels, inChannels);
    linear('fc.2', 'head.fc', shape.dim, inChannels);
  } else {
    linear('fc', 'head.fc', shape.dim, inChannels);
  }
  return { keys, batchNorms, featureChannels: inChannels };
}

/** PyTorch layout -> ours. conv [O, I, kh, kw] -> [kh, kw, I, O]; linear [out, in] -> [in, out]. */
export function toOurLayout(values: Float32Array, torchShape: readonly number[], transform: Transform): { shape: number[]; values: Float32Array } {
  if (transform === 'vector') return { shape: [...torchShape], values };
  if (transform === 'linear') {
    const [out, inn] = torchShape as [number, number];
    const result = new Float32Array(values.length);
    for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) result[i * out + o] = values[o * inn + i]!;
    return { shape: [inn, out], values: result };
  }
  const [o, i, h, w] = torchShape as [number, number, number, number];
  const result = new Float32Array(values.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    result[((y * w + x) * i + b) * o + a] = values[((a * i + b) * h + y) * w + x]!;
  }
  return { shape: [h, w, i, o], values: result };
}

/** Ours -> PyTorch layout (the inverse of toOurLayout), given PyTorch's shape. */
export function toTorchLayout(values: Float32Array, torchShape: readonly number[], transform: Transform): Float32Array {
  if (transform === 'vector') return values;
  if (transform === 'linear') {
    const [out, inn] = torchShape as [number, number];
    const result = new Float32Array(values.length);
    for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) result[o * inn + i] = values[i * out + o]!;
    return result;
  }
  const [o, i, h, w] = torchShape as [number, number, number, number];
  const result = new Float32Array(values.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    result[((a * i + b) * h + y) * w + x] = values[((y * w + x) * i + b) * o + a]!;
  }
  return result;
}

/**
 * The encoder a torchvision-named state dict describes, from its keys and shapes alone:
 * bottleneck blocks (conv3) -> resnet50, else stage depths 2-2-2-2 -> resnet18, 3-4-6-3 ->
 * resnet34; the width from conv1's output channels; the stem from conv1's kernel; the head
 * from fc vs fc.0/fc.2.
 */
export function inferEncoderShape(shapes: ReadonlyMap<string, readonly number[]>, where: string): EncoderShape {
  const conv1 = shapes.get('conv1.weight');
  if (!conv1 || conv1.length !== 4) throw new Error(`${where}: no conv1.weight [out, 3, k, k]: not a ResNet state dict (keys: ${[...shapes.keys()].slice(0, 8).join(', ')}${shapes.size > 8 ? ', ...' : ''})`);
  const depths = [1, 2, 3, 4].map((stage) => {
    let n = 0;
    while (shapes.has(`layer${stage}.${n}.conv1.weight`)) n++;
    return n;
  });
  const bottleneck = shapes.has('layer1.0.conv3.weight');
  const pattern = depths.join('-');
  let architecture: Architecture;
  if (bottleneck && pattern === '3-4-6-3') architecture = 'resnet50';
  else if (!bottleneck && pattern === '2-2-2-2') architecture = 'resnet18';
  else if (!bottleneck && pattern === '3-4-6-3') architecture = 'resnet34';
  else throw new Error(`${where}: a ResNet with ${bottleneck ? 'bottleneck' : 'basic'} blocks ${pattern} per stage is not one of resnet18 (2-2-2-2), resnet34 (3-4-6-3), resnet50 (bottleneck 3-4-6-3)`);
  const kernel = conv1[2]!;
  if (kernel !== 3 && kernel !== 7) throw new Error(`${where}: conv1 has a ${kernel}x${kernel} kernel; expected 7x7 (ImageNet stem) or 3x3 (small-image stem)`);
  const widthMultiplier = conv1[0]! / 64;
  const stageWidths = [1, 2, 3, 4].map((s) => shapes.get(`layer${s}.0.conv1.weight`)?.[0] ?? 0);
  const expected = [64, 128, 256, 512].map((c) => scaledWidth(c, widthMultiplier));
  if (stageWidths.join() !== expected.join()) {
    throw new Error(`${where}: stage widths ${stageWidths.join('/')} do not follow conv1's width ${conv1[0]} (expected ${expected.join('/')} for width multiplier ${widthMultiplier})`);
  }
  let head: HeadKind;
  let fc: readonly number[] | undefined;
  if (shapes.has('fc.0.weight') && shapes.has('fc.2.weight')) {
    head = 'mlp';
    fc = shapes.get('fc.2.weight');
  } else if (shapes.has('fc.weight')) {
    head = 'linear';
    fc = shapes.get('fc.weight');
  } else {
    throw new Error(`${where}: no head (fc.weight, or fc.0.weight and fc.2.weight for the MoCo v2 MLP head)`);
  }
  return { architecture, widthMultiplier, smallImageStem: kernel === 3, head, dim: fc![0]! };
}
