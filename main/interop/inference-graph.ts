/**
 * The app's embedding path as a flat list of inference operations, the one source that the
 * TF.js graph-model and ONNX exports are written from (issue 12 item 4). Pure TypeScript over a
 * checkpoint's Float32Arrays: no tfjs, no fs.
 *
 * What it computes is exactly what the app stores, searches and shows (main/trainer/run-embeddings.ts):
 *   pixels [N, S, S, 3] (eval transform: resize + centre crop, ImageNet mean/std)
 *   -> query encoder backbone in eval mode (running BatchNorm statistics, main/ml/resnet.ts)
 *   -> global average pool [N, F] -> L2 normalise
 *   -> with the run's stored folder statistics (standardisation.json, issue 10):
 *      z = (f - mean) / std, out = L2(z + 1e-3 f)        (main/ml/feature-standardisation.ts)
 *
 * BatchNorm is folded into the preceding convolution: eval-mode BN is the affine map
 * y = (x - mean) * gamma / sqrt(var + eps) + beta per channel, so conv(x, W) followed by it is
 * conv(x, W * s) + (beta - mean * s) with s = gamma / sqrt(var + eps). Exact in real
 * arithmetic; in float32 the exports match the app's embeddings to ~1e-6 (tested at 1e-4).
 */
import type { NamedTensorData } from '../ml/training-state.js';

/** = DEFAULT_BN_EPSILON of main/ml/batch-norm.ts (no run sets another); the export tests would catch a change. */
const BN_EPSILON = 1e-5;
/** The raw direction's trace in applyStandardisation (main/ml/feature-standardisation.ts). */
export const STANDARDISATION_TRACE = 1e-3;
/** l2Normalize's floor on the norm (main/ml/moco.ts). */
export const L2_EPSILON = 1e-12;

/** A convolution with BN folded in: weights HWIO [k, k, cin, cout], symmetric zero padding. */
export interface FoldedConv {
  readonly kind: 'conv';
  readonly name: string;
  readonly input: string;
  readonly output: string;
  readonly weight: Float32Array;
  readonly shape: readonly [number, number, number, number];
  readonly bias: Float32Array;
  readonly stride: number;
  readonly pad: number;
}

export type InferenceOp =
  | FoldedConv
  | { readonly kind: 'relu'; readonly name: string; readonly input: string; readonly output: string }
  | { readonly kind: 'add'; readonly name: string; readonly inputs: readonly [string, string]; readonly output: string }
  /** 3x3 stride-2 max pool with 1 pixel of padding (inputs are ReLU outputs, so zero padding = PyTorch's -inf). */
  | { readonly kind: 'maxpool'; readonly name: string; readonly input: string; readonly output: string }
  /** [N, H, W, C] -> [N, C] */
  | { readonly kind: 'global-average-pool'; readonly name: string; readonly input: string; readonly output: string }
  | { readonly kind: 'l2-normalize'; readonly name: string; readonly input: string; readonly output: string }
  /** z = (x - mean) / std; out = L2(z + trace * x) */
  | { readonly kind: 'standardise'; readonly name: string; readonly input: string; readonly output: string; readonly mean: Float32Array; readonly std: Float32Array };

export interface InferenceGraph {
  readonly input: string;
  readonly output: string;
  readonly imageSize: number;
  readonly featureChannels: number;
  /** False when no folder statistics of this checkpoint exist: the output is then the L2-normalised pooled features. */
  readonly standardised: boolean;
  readonly ops: readonly InferenceOp[];
}

export interface GraphSource {
  /** A checkpoint's tensors (names like `query/stem.conv`). */
  readonly tensors: readonly NamedTensorData[];
  readonly smallImageStem: boolean;
  readonly imageSize: number;
  readonly standardisation: { readonly mean: readonly number[]; readonly std: readonly number[] } | null;
}

export const GRAPH_INPUT = 'pixels';
export const GRAPH_OUTPUT = 'embedding';

export function buildInferenceGraph(source: GraphSource, prefix = 'query/'): InferenceGraph {
  const byName = new Map(source.tensors.filter((t) => t.name.startsWith(prefix)).map((t) => [t.name.slice(prefix.length), t]));
  const tensor = (name: string): NamedTensorData => {
    const t = byName.get(name);
    if (!t) throw new Error(`the checkpoint has no tensor "${prefix}${name}" (not a MoCo Studio ResNet encoder?)`);
    return t;
  };
  const ops: InferenceOp[] = [];
  const convBn = (conv: string, bn: string, input: string, stride: number, relu: boolean): string => {
    const w = tensor(conv);
    if (w.shape.length !== 4) throw new Error(`tensor "${prefix}${conv}" has shape [${w.shape.join(', ')}], expected a 4-D HWIO kernel`);
    const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
    const gamma = tensor(`${bn}.gamma`).values;
    const beta = tensor(`${bn}.beta`).values;
    const mean = tensor(`${bn}.runningMean`).values;
    const variance = tensor(`${bn}.runningVar`).values;
    const weight = new Float32Array(w.values.length);
    const bias = new Float32Array(cout);
    const scale = new Float64Array(cout);
    for (let o = 0; o < cout; o++) {
      scale[o] = gamma[o]! / Math.sqrt(variance[o]! + BN_EPSILON);
      bias[o] = beta[o]! - mean[o]! * scale[o]!;
    }
    for (let i = 0; i < weight.length; i++) weight[i] = w.values[i]! * scale[i % cout]!;
    ops.push({ kind: 'conv', name: conv, input, output: `${conv}.out`, weight, shape: [kh, kw, cin, cout], bias, stride, pad: (kh - 1) / 2 });
    if (!relu) return `${conv}.out`;
    ops.push({ kind: 'relu', name: `${conv}.relu`, input: `${conv}.out`, output: `${conv}.relu` });
    return `${conv}.relu`;
  };

  // The stem: 3x3 stride 1 (small images) or 7x7 stride 2 + 3x3/2 max pool (resnet.ts `stem`).
  let h = convBn('stem.conv', 'stem.bn', GRAPH_INPUT, source.smallImageStem ? 1 : 2, true);
  if (!source.smallImageStem) {
    ops.push({ kind: 'maxpool', name: 'stem.maxpool', input: h, output: 'stem.maxpool' });
    h = 'stem.maxpool';
  }
  let channels = tensor('stem.conv').shape[3]!;
  for (let stage = 1; stage <= 4; stage++) {
    for (let index = 0; byName.has(`layer${stage}.${index}.conv1`); index++) {
      const block = `layer${stage}.${index}`;
      const stride = stage > 1 && index === 0 ? 2 : 1;
      const bottleneck = byName.has(`${block}.conv3`);
      let y: string;
      if (bottleneck) {
        y = convBn(`${block}.conv1`, `${block}.bn1`, h, 1, true);
        y = convBn(`${block}.conv2`, `${block}.bn2`, y, stride, true);
        y = convBn(`${block}.conv3`, `${block}.bn3`, y, 1, false);
      } else {
        y = convBn(`${block}.conv1`, `${block}.bn1`, h, stride, true);
        y = convBn(`${block}.conv2`, `${block}.bn2`, y, 1, false);
      }
      const shortcut = byName.has(`${block}.shortcut.conv`) ? convBn(`${block}.shortcut.conv`, `${block}.shortcut.bn`, h, stride, false) : h;
      ops.push({ kind: 'add', name: `${block}.add`, inputs: [y, shortcut], output: `${block}.add` });
      ops.push({ kind: 'relu', name: `${block}.relu`, input: `${block}.add`, output: `${block}.out` });
      h = `${block}.out`;
      channels = tensor(`${block}.${bottleneck ? 'conv3' : 'conv2'}`).shape[3]!;
    }
  }
  if (!byName.has('layer4.0.conv1')) throw new Error(`the checkpoint has no tensor "${prefix}layer4.0.conv1" (not a 4-stage ResNet encoder?)`);
  ops.push({ kind: 'global-average-pool', name: 'pool', input: h, output: 'pool' });
  const standardisation = source.standardisation;
  ops.push({ kind: 'l2-normalize', name: 'features', input: 'pool', output: standardisation ? 'features' : GRAPH_OUTPUT });
  if (standardisation) {
    if (standardisation.mean.length !== channels || standardisation.std.length !== channels) {
      throw new Error(`the run's standardisation.json has ${standardisation.mean.length} dimensions, the encoder ${channels}: embed the run again (moco-studio embed <run>)`);
    }
    ops.push({ kind: 'standardise', name: 'standardise', input: 'features', output: GRAPH_OUTPUT, mean: Float32Array.from(standardisation.mean), std: Float32Array.from(standardisation.std) });
  }
  return { input: GRAPH_INPUT, output: GRAPH_OUTPUT, imageSize: source.imageSize, featureChannels: channels, standardised: standardisation !== null, ops };
}
