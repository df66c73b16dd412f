/**
 * The encoder f: a ResNet-18/34/50 backbone (torchvision's layout: basic blocks for 18/34,
 * bottleneck blocks with the stride on the 3x3 conv for 50), a width multiplier, an optional
 * small-image stem (3x3 stride-1 conv, no max-pool: the reference CIFAR demo's stem, used for
 * inputs <= 64 px), a head (MoCo v1: fc -> dim; v2: MLP fc -> ReLU -> fc), and L2 normalisation
 * of the output done by the caller (moco.ts) so that features before the head stay reachable.
 *
 * Explicit variables (variables.ts) and a pure forward function instead of tf.layers: the key
 * encoder must be a parameter-by-parameter copy of the query encoder with its own BatchNorm
 * buffers, and BatchNorm must be split into groups (batch-norm.ts), neither of which tf.layers
 * models. Padding is explicit and symmetric (PyTorch's), not TensorFlow's asymmetric 'same'.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchNormEval, splitBatchNormTrain, DEFAULT_BN_EPSILON, DEFAULT_BN_MOMENTUM, type BatchNormEpilogue, type BatchNormVariables } from './batch-norm.js';
import { Rng } from './rng.js';
import { kaimingNormalConv, linearUniform, VariableStore } from './variables.js';

export const ARCHITECTURES = ['resnet18', 'resnet34', 'resnet50'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];
export type HeadKind = 'linear' | 'mlp';
export type EncoderMode = 'train' | 'eval';

export interface EncoderConfig {
  readonly architecture: Architecture;
  /** Multiplies every layer's channel count (1 = the paper's ResNet; 0.25 = a quarter as wide). */
  readonly widthMultiplier: number;
  /** 3x3 stride-1 stem without max-pool (CIFAR demo) instead of 7x7 stride-2 + max-pool (ImageNet). */
  readonly smallImageStem: boolean;
  /** 'linear' = MoCo v1 fc head; 'mlp' = MoCo v2 fc-ReLU-fc head. */
  readonly head: HeadKind;
  /** C: embedding dimension (128 in the paper). */
  readonly dim: number;
  /** G: BatchNorm groups in training mode (Shuffle BN emulation, reference default 8). */
  readonly bnSplits: number;
  readonly bnMomentum?: number;
  readonly bnEpsilon?: number;
}

interface BlockPlan {
  readonly name: string;
  readonly kind: 'basic' | 'bottleneck';
  readonly inChannels: number;
  readonly midChannels: number;
  readonly outChannels: number;
  readonly stride: number;
  readonly projectShortcut: boolean;
}

const STAGE_DEPTHS: Record<Architecture, readonly number[]> = {
  resnet18: [2, 2, 2, 2],
  resnet34: [3, 4, 6, 3],
  resnet50: [3, 4, 6, 3],
};

export function validateEncoderConfig(config: EncoderConfig): void {
  if (!(ARCHITECTURES as readonly string[]).includes(config.architecture)) {
    throw new Error(`architecture: expected one of ${ARCHITECTURES.join(', ')}, got "${config.architecture}"`);
  }
  if (!(config.widthMultiplier > 0 && config.widthMultiplier <= 4)) {
    throw new Error(`widthMultiplier: must be in (0, 4], got ${config.widthMultiplier}`);
  }
  if (!Number.isInteger(config.dim) || config.dim < 2) throw new Error(`dim: must be an integer >= 2, got ${config.dim}`);
  if (!Number.isInteger(config.bnSplits) || config.bnSplits < 1) throw new Error(`bnSplits: must be an integer >= 1, got ${config.bnSplits}`);
}

function widths(config: EncoderConfig): { stem: number; stages: number[] } {
  const scaled = (c: number): number => Math.max(4, Math.round(c * config.widthMultiplier));
  return { stem: scaled(64), stages: [64, 128, 256, 512].map(scaled) };
}

function planBlocks(config: EncoderConfig): { stemChannels: number; blocks: BlockPlan[]; featureChannels: number } {
  const { stem, stages } = widths(config);
  const bottleneck = config.architecture === 'resnet50';
  const expansion = bottleneck ? 4 : 1;
  const blocks: BlockPlan[] = [];
  let inChannels = stem;
  STAGE_DEPTHS[config.architecture].forEach((depth, stage) => {
    const mid = stages[stage]!;
    const out = mid * expansion;
    for (let i = 0; i < depth; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      blocks.push({
        name: `layer${stage + 1}.${i}`,
        kind: bottleneck ? 'bottleneck' : 'basic',
        inChannels,
        midChannels: mid,
        outChannels: out,
        stride,
        projectShortcut: stride !== 1 || inChannels !== out,
      });
      inChannels = out;
    }
  });
  return { stemChannels: stem, blocks, featureChannels: inChannels };
}

/** Trainable scalars of an encoder, from its plan alone (mirrors Encoder.create; tested against it). */
export function parameterCount(config: EncoderConfig): number {
  const { stemChannels, blocks, featureChannels } = planBlocks(config);
  let n = (config.smallImageStem ? 9 : 49) * 3 * stemChannels + 2 * stemChannels;
  for (const b of blocks) {
    if (b.kind === 'basic') n += 9 * b.inChannels * b.midChannels + 2 * b.midChannels + 9 * b.midChannels * b.outChannels + 2 * b.outChannels;
    else n += b.inChannels * b.midChannels + 9 * b.midChannels * b.midChannels + b.midChannels * b.outChannels + 4 * b.midChannels + 2 * b.outChannels;
    if (b.projectShortcut) n += b.inChannels * b.outChannels + 2 * b.outChannels;
  }
  if (config.head === 'mlp') n += featureChannels * featureChannels + featureChannels;
  return n + featureChannels * config.dim + config.dim;
}

export class Encoder {
  readonly variables: VariableStore;
  readonly featureChannels: number;
  private readonly blocks: BlockPlan[];
  private readonly bnMomentum: number;
  private readonly bnEpsilon: number;

  private constructor(readonly config: EncoderConfig, variables: VariableStore, blocks: BlockPlan[], featureChannels: number) {
    this.variables = variables;
    this.blocks = blocks;
    this.featureChannels = featureChannels;
    this.bnMomentum = config.bnMomentum ?? DEFAULT_BN_MOMENTUM;
    this.bnEpsilon = config.bnEpsilon ?? DEFAULT_BN_EPSILON;
  }

  /** A freshly initialised encoder (He-normal convs, BN gamma 1 / beta 0, PyTorch-default fc). */
  static create(config: EncoderConfig, seed: number): Encoder {
    validateEncoderConfig(config);
    const rng = new Rng(seed);
    const store = new VariableStore(true);
    const { stemChannels, blocks, featureChannels } = planBlocks(config);
    tf.tidy(() => {
      const conv = (name: string, k: number, cin: number, cout: number): void => {
        store.addParameter(name, kaimingNormalConv([k, k, cin, cout], rng));
      };
      const bn = (name: string, c: number): void => {
        store.addParameter(`${name}.gamma`, tf.ones([c]));
        store.addParameter(`${name}.beta`, tf.zeros([c]));
        store.addBuffer(`${name}.runningMean`, tf.zeros([c]));
        store.addBuffer(`${name}.runningVar`, tf.ones([c]));
      };
      const fc = (name: string, fanIn: number, fanOut: number): void => {
        store.addParameter(`${name}.weight`, linearUniform([fanIn, fanOut], fanIn, rng));
        store.addParameter(`${name}.bias`, linearUniform([fanOut], fanIn, rng));
      };
      conv('stem.conv', config.smallImageStem ? 3 : 7, 3, stemChannels);
      bn('stem.bn', stemChannels);
      for (const b of blocks) {
        if (b.kind === 'basic') {
          conv(`${b.name}.conv1`, 3, b.inChannels, b.midChannels);
          bn(`${b.name}.bn1`, b.midChannels);
          conv(`${b.name}.conv2`, 3, b.midChannels, b.outChannels);
          bn(`${b.name}.bn2`, b.outChannels);
        } else {
          conv(`${b.name}.conv1`, 1, b.inChannels, b.midChannels);
          bn(`${b.name}.bn1`, b.midChannels);
          conv(`${b.name}.conv2`, 3, b.midChannels, b.midChannels);
          bn(`${b.name}.bn2`, b.midChannels);
          conv(`${b.name}.conv3`, 1, b.midChannels, b.outChannels);
          bn(`${b.name}.bn3`, b.outChannels);
        }
        if (b.projectShortcut) {
          conv(`${b.name}.shortcut.conv`, 1, b.inChannels, b.outChannels);
          bn(`${b.name}.shortcut.bn`, b.outChannels);
        }
      }
      if (config.head === 'mlp') fc('head.hidden', featureChannels, featureChannels);
      fc('head.fc', featureChannels, config.dim);
    });
    return new Encoder(config, store, blocks, featureChannels);
  }

  /** The key encoder's initialisation: same architecture, a copy of every value, not trainable by SGD. */
  cloneFrozen(): Encoder {
    return new Encoder(this.config, this.variables.clone(false), this.blocks, this.featureChannels);
  }

  /** The stem: 3x3 stride 1 for small images, else the ImageNet 7x7 stride 2 conv and max-pool. */
  private stem(x: tf.Tensor4D, mode: EncoderMode): tf.Tensor4D {
    if (this.config.smallImageStem) return this.convBnRelu(x, 'stem.conv', 'stem.bn', 1, 1, mode);
    return tf.maxPool(this.convBnRelu(x, 'stem.conv', 'stem.bn', 2, 3, mode), 3, 2, 1);
  }

  /** Backbone only: x [N, H, W, 3] -> pooled features [N, F]. */
  features(x: tf.Tensor4D, mode: EncoderMode): tf.Tensor2D {
    let h = this.stem(x, mode);
    for (const b of this.blocks) h = this.block(h, b, mode);
    return tf.mean(h, [1, 2]); // global average pool: [N, F]
  }

  /**
   * Global-average-pooled output of each of the four stages: [N, C_1] ... [N, C_4] (the last is
   * `features`). Early stages keep colour and texture statistics that a short run has not yet
   * folded into the last stage; their concatenation is the 'multistage' embedding (issue 10).
   */
  stageFeatures(x: tf.Tensor4D, mode: EncoderMode): tf.Tensor2D[] {
    let h = this.stem(x, mode);
    const pooled: tf.Tensor2D[] = [];
    this.blocks.forEach((b, i) => {
      h = this.block(h, b, mode);
      const next = this.blocks[i + 1];
      if (!next || next.name.split('.')[0] !== b.name.split('.')[0]) pooled.push(tf.mean(h, [1, 2]));
    });
    return pooled;
  }

  /** Full encoder before L2 normalisation: x [N, H, W, 3] -> [N, dim]. */
  apply(x: tf.Tensor4D, mode: EncoderMode): tf.Tensor2D {
    return this.applyHead(this.features(x, mode));
  }

  /** The head alone: pooled features [N, F] -> [N, dim]. */
  applyHead(features: tf.Tensor2D): tf.Tensor2D {
    let h = features;
    if (this.config.head === 'mlp') h = tf.relu(this.dense(h, 'head.hidden'));
    return this.dense(h, 'head.fc');
  }

  dispose(): void {
    this.variables.dispose();
  }

  /** relu(F(x) + shortcut(x)); the last BatchNorm of F takes the sum and the ReLU (batch-norm.ts's epilogue). */
  private block(x: tf.Tensor4D, b: BlockPlan, mode: EncoderMode): tf.Tensor4D {
    const shortcut = b.projectShortcut ? this.convBn(x, `${b.name}.shortcut.conv`, `${b.name}.shortcut.bn`, b.stride, 0, mode) : x;
    const residual = { relu: true, residual: shortcut };
    if (b.kind === 'basic') {
      const h = this.convBnRelu(x, `${b.name}.conv1`, `${b.name}.bn1`, b.stride, 1, mode);
      return this.convBn(h, `${b.name}.conv2`, `${b.name}.bn2`, 1, 1, mode, residual);
    }
    let h = this.convBnRelu(x, `${b.name}.conv1`, `${b.name}.bn1`, 1, 0, mode);
    h = this.convBnRelu(h, `${b.name}.conv2`, `${b.name}.bn2`, b.stride, 1, mode);
    return this.convBn(h, `${b.name}.conv3`, `${b.name}.bn3`, 1, 0, mode, residual);
  }

  private convBnRelu(x: tf.Tensor4D, conv: string, bn: string, stride: number, pad: number, mode: EncoderMode): tf.Tensor4D {
    return this.convBn(x, conv, bn, stride, pad, mode, { relu: true });
  }

  private convBn(x: tf.Tensor4D, conv: string, bn: string, stride: number, pad: number, mode: EncoderMode, epilogue?: BatchNormEpilogue): tf.Tensor4D {
    const y = tf.conv2d(x, this.variables.parameter(conv) as tf.Tensor4D, stride, pad);
    return this.batchNorm(y, bn, mode, epilogue) as tf.Tensor4D;
  }

  private batchNorm(x: tf.Tensor, name: string, mode: EncoderMode, epilogue?: BatchNormEpilogue): tf.Tensor {
    const vars: BatchNormVariables = {
      gamma: this.variables.parameter(`${name}.gamma`) as tf.Tensor1D,
      beta: this.variables.parameter(`${name}.beta`) as tf.Tensor1D,
      runningMean: this.variables.buffer(`${name}.runningMean`),
      runningVar: this.variables.buffer(`${name}.runningVar`),
    };
    if (mode === 'eval') return batchNormEval(x, vars, this.bnEpsilon, epilogue);
    return splitBatchNormTrain(x, vars, { splits: this.config.bnSplits, momentum: this.bnMomentum, epsilon: this.bnEpsilon }, epilogue);
  }

  private dense(x: tf.Tensor2D, name: string): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.variables.parameter(`${name}.weight`) as tf.Tensor2D), this.variables.parameter(`${name}.bias`));
  }
}
