/**
 * Named variables of one network: trainable parameters (what SGD updates and the momentum
 * update copies) and buffers (BatchNorm running statistics, which each encoder keeps as its
 * own, as in the reference where buffers are not momentum-updated).
 * Insertion order is stable, so two stores built from the same plan line up name by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from './rng.js';

export class VariableStore {
  readonly parameters = new Map<string, tf.Variable>();
  readonly buffers = new Map<string, tf.Variable>();

  constructor(private readonly trainable: boolean) {}

  addParameter(name: string, values: tf.Tensor): tf.Variable {
    return this.add(this.parameters, name, values, this.trainable);
  }

  addBuffer(name: string, values: tf.Tensor): tf.Variable {
    return this.add(this.buffers, name, values, false);
  }

  parameter(name: string): tf.Variable {
    const v = this.parameters.get(name);
    if (!v) throw new Error(`Unknown parameter "${name}"`);
    return v;
  }

  buffer(name: string): tf.Variable {
    const v = this.buffers.get(name);
    if (!v) throw new Error(`Unknown buffer "${name}"`);
    return v;
  }

  /** A new store with copies of every parameter and buffer (the key encoder's initialisation). */
  clone(trainable: boolean): VariableStore {
    const copy = new VariableStore(trainable);
    for (const [name, v] of this.parameters) copy.addParameter(name, v);
    for (const [name, v] of this.buffers) copy.addBuffer(name, v);
    return copy;
  }

  /** Total number of trainable scalars. */
  parameterCount(): number {
    let n = 0;
    for (const v of this.parameters.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.parameters.values()) v.dispose();
    for (const v of this.buffers.values()) v.dispose();
    this.parameters.clear();
    this.buffers.clear();
  }

  private add(map: Map<string, tf.Variable>, name: string, values: tf.Tensor, trainable: boolean): tf.Variable {
    if (this.parameters.has(name) || this.buffers.has(name)) throw new Error(`Duplicate variable "${name}"`);
    // tf.variable shares the buffer with a reference count (assign swaps buffers, never writes in
    // place), so the caller keeps ownership of `values` and cloned stores stay independent.
    const v = tf.variable(values, trainable);
    map.set(name, v);
    return v;
  }
}

/** Kaiming-normal (He) initialisation, fan-out mode for ReLU nets, as torchvision's ResNet: std = sqrt(2 / (kh * kw * cout)). */
export function kaimingNormalConv(shape: [number, number, number, number], rng: Rng): tf.Tensor4D {
  const [kh, kw, , cout] = shape;
  const std = Math.sqrt(2 / (kh * kw * cout));
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * std;
  return tf.tensor4d(values, shape);
}

/** PyTorch's nn.Linear default: weight and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function linearUniform(shape: number[], fanIn: number, rng: Rng): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-bound, bound);
  return tf.tensor(values, shape);
}
