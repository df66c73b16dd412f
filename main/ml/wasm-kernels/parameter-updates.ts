/**
 * The per-parameter updates of a training step as single wasm kernels (issue 9), on a small
 * WebAssembly SIMD module assembled here that works in place on the backend's memory:
 *   MocoSgdMomentum:   v' = m * v + (g + wd * theta),  theta' = theta - lr * v'   (outputs theta', v')
 *   MocoMomentumAverage: out = m * a + (1 - m) * b    (MoCo's key-encoder update, a = theta_k, b = theta_q)
 * Through tfjs ops these were six and three kernels a parameter, about 560 calls a step for
 * ResNet-18's 62 parameters: a fixed cost that every worker of a data-parallel pool pays again
 * on its half batch. Each value is computed with the same float32 products and sums in the same
 * order as those ops (wasm SIMD rounds each f32x4.mul and f32x4.add as the scalar kernels do),
 * so the results are bit-identical (tested). Sizes must be multiples of 4 (ml/optimizer.ts and
 * ml/moco.ts keep the op route otherwise).
 */
import * as tf from '@tensorflow/tfjs-core';
import { FusedKernelUnavailable, MOMENTUM_AVERAGE, SGD_MOMENTUM } from '../fused-kernels.js';
import {
  countedLoop, F32X4_ADD, F32X4_MUL, F32X4_SUB, functionCode, get, i32, I32, I32_ADD, I32_MUL, mem, set, simd, V128, V128_LOAD, V128_STORE,
  instanceOnMemory, memoryModule, procedure,
} from '../wasm/assembly.js';
import { asWasm, backendMemory, offsetBytes, release, type WasmBackend } from './kernel-utils.js';

const F32X4_SPLAT = 0x13;

interface UpdateModule {
  /** theta, grad, v, thetaOut, vOut (bytes), count (a multiple of 4), lr, momentum, weightDecay. */
  readonly sgd: (theta: number, grad: number, v: number, thetaOut: number, vOut: number, count: number, lr: number, m: number, wd: number) => void;
  /** sgd without weight decay: grad, v, theta, thetaOut, vOut, count, lr, momentum. */
  readonly sgdPlain: (grad: number, v: number, theta: number, thetaOut: number, vOut: number, count: number, lr: number, m: number) => void;
  /** a, b, out (bytes), count (a multiple of 4), m, 1 - m. */
  readonly average: (a: number, b: number, out: number, count: number, m: number, rest: number) => void;
}

const load = (pointer: number, offset: number): number[] => [...get(pointer), ...get(offset), I32_ADD, ...simd(V128_LOAD), ...mem(2)];
const store = (pointer: number, offset: number, value: number[]): number[] => [...get(pointer), ...get(offset), I32_ADD, ...value, ...simd(V128_STORE), ...mem(2)];
const splat = (local: number): number[] => [...get(local), ...simd(F32X4_SPLAT)];
const [mul, add, sub] = [simd(F32X4_MUL), simd(F32X4_ADD), simd(F32X4_SUB)];

/** With weight decay: params theta, grad, v, thetaOut, vOut, count, lr, m, wd; without: grad, v, theta, thetaOut, vOut, count, lr, m. */
function sgdFunction(decay: boolean): number[] {
  const [theta, grad, v, thetaOut, vOut, count, lr, m, wd] = decay ? [0, 1, 2, 3, 4, 5, 6, 7, 8] : [2, 0, 1, 3, 4, 5, 6, 7, -1];
  const [i, end, vNew] = decay ? [9, 10, 11] : [8, 9, 10];
  const g = decay ? [...load(grad, i), ...load(theta, i), ...splat(wd), ...mul, ...add] : load(grad, i);
  const body = [
    ...get(count), ...i32(4), I32_MUL, ...set(end),
    ...countedLoop(i, end, [
      // v' = v * m + g, g = grad + theta * wd (as the ops: grad alone without weight decay)
      ...load(v, i), ...splat(m), ...mul, ...g, ...add, ...set(vNew),
      ...store(vOut, i, get(vNew)),
      ...store(thetaOut, i, [...load(theta, i), ...get(vNew), ...splat(lr), ...mul, ...sub]),
    ], 16),
  ];
  return functionCode([[2, I32], [1, V128]], body);
}

function averageFunction(): number[] {
  const [a, b, out, count, m, rest] = [0, 1, 2, 3, 4, 5] as const;
  const [i, end] = [6, 7] as const;
  const body = [
    ...get(count), ...i32(4), I32_MUL, ...set(end),
    ...countedLoop(i, end, store(out, i, [...load(a, i), ...splat(m), ...mul, ...load(b, i), ...splat(rest), ...mul, ...add]), 16),
  ];
  return functionCode([[2, I32]], body);
}

function moduleBytes(): Uint8Array {
  return memoryModule([
    { name: 'sgd', type: procedure(6, 3), code: sgdFunction(true) },
    { name: 'average', type: procedure(4, 2), code: averageFunction() },
    { name: 'sgdPlain', type: procedure(6, 2), code: sgdFunction(false) },
  ]);
}

function updateModule(backend: WasmBackend, kernel: string): UpdateModule {
  const memory = backendMemory(backend);
  const module = memory === undefined ? null : instanceOnMemory('parameter-updates', moduleBytes, memory) as UpdateModule | null;
  if (module === null) throw new FusedKernelUnavailable(kernel);
  return module;
}

/** The common size of float32 tensors of one shape, a positive multiple of 4 (the module's loops run at least once). */
function sizeOf(kernel: string, ...infos: tf.TensorInfo[]): number {
  const first = infos[0]!;
  const size = tf.util.sizeFromShape(first.shape);
  if (size === 0 || size % 4 !== 0 || infos.some((t) => !tf.util.arraysEqual(t.shape, first.shape) || t.dtype !== 'float32')) {
    throw new Error(`${kernel}: needs float32 tensors of one shape whose size is a positive multiple of 4; got ${infos.map((t) => `[${t.shape.join(', ')}] ${t.dtype}`).join(', ')}`);
  }
  return size;
}

export function sgdMomentumWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { theta, grad, velocity } = args.inputs as Record<'theta' | 'grad' | 'velocity', tf.TensorInfo>;
  const { learningRate, momentum, weightDecay } = args.attrs as unknown as { learningRate: number; momentum: number; weightDecay: number };
  const count = sizeOf(SGD_MOMENTUM, theta, grad, velocity);
  const module = updateModule(backend, SGD_MOMENTUM);
  let thetaOut: tf.TensorInfo | undefined, velocityOut: tf.TensorInfo | undefined;
  try {
    thetaOut = backend.makeOutput(theta.shape, 'float32');
    velocityOut = backend.makeOutput(theta.shape, 'float32');
    const at = (t: tf.TensorInfo): number => offsetBytes(backend, t);
    // Without weight decay the ops add no theta * 0 term (which could turn -0 into +0, or Inf into NaN).
    if (weightDecay === 0) module.sgdPlain(at(grad), at(velocity), at(theta), at(thetaOut), at(velocityOut), count, learningRate, momentum);
    else module.sgd(at(theta), at(grad), at(velocity), at(thetaOut), at(velocityOut), count, learningRate, momentum, weightDecay);
  } catch (e) {
    release(backend, thetaOut, velocityOut);
    throw e;
  }
  return [thetaOut, velocityOut];
}

export function momentumAverageWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { a, b } = args.inputs as Record<'a' | 'b', tf.TensorInfo>;
  const { momentum } = args.attrs as unknown as { momentum: number };
  const count = sizeOf(MOMENTUM_AVERAGE, a, b);
  const module = updateModule(backend, MOMENTUM_AVERAGE);
  let out: tf.TensorInfo | undefined;
  try {
    out = backend.makeOutput(a.shape, 'float32');
    module.average(offsetBytes(backend, a), offsetBytes(backend, b), offsetBytes(backend, out), count, momentum, 1 - momentum);
  } catch (e) {
    release(backend, out);
    throw e;
  }
  return out;
}
