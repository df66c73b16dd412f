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
import { MOMENTUM_AVERAGE, SGD_MOMENTUM } from '../fused-kernels.js';
import {
  countedLoop, F32X4_ADD, F32X4_MUL, F32X4_SUB, functionCode, get, i32, I32, I32_ADD, I32_MUL, MAGIC_AND_VERSION, mem, name, section, set, simd,
  V128, V128_LOAD, V128_STORE, vector, webAssemblyApi,
} from '../wasm/assembly.js';
import { asWasm, backendMemory, offsetBytes, release, type WasmBackend } from './kernel-utils.js';

const F32 = 0x7d, F32X4_SPLAT = 0x13;

interface UpdateModule {
  /** theta, grad, v, thetaOut, vOut (bytes), count (a multiple of 4), lr, momentum, weightDecay. */
  readonly sgd: (theta: number, grad: number, v: number, thetaOut: number, vOut: number, count: number, lr: number, m: number, wd: number) => void;
  /** a, b, out (bytes), count (a multiple of 4), m, 1 - m. */
  readonly average: (a: number, b: number, out: number, count: number, m: number, rest: number) => void;
}

const load = (pointer: number, offset: number): number[] => [...get(pointer), ...get(offset), I32_ADD, ...simd(V128_LOAD), ...mem(2)];
const store = (pointer: number, offset: number, value: number[]): number[] => [...get(pointer), ...get(offset), I32_ADD, ...value, ...simd(V128_STORE), ...mem(2)];
const splat = (local: number): number[] => [...get(local), ...simd(F32X4_SPLAT)];
const [mul, add, sub] = [simd(F32X4_MUL), simd(F32X4_ADD), simd(F32X4_SUB)];

function sgdFunction(): number[] {
  const [theta, grad, v, thetaOut, vOut, count, lr, m, wd] = [0, 1, 2, 3, 4, 5, 6, 7, 8] as const;
  const [i, end, vNew] = [9, 10, 11] as const;
  const body = [
    ...get(count), ...i32(4), I32_MUL, ...set(end),
    ...countedLoop(i, end, [
      // v' = v * m + (g + theta * wd)
      ...load(v, i), ...splat(m), ...mul, ...load(grad, i), ...load(theta, i), ...splat(wd), ...mul, ...add, ...add, ...set(vNew),
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
  const type = (ints: number, floats: number): number[] => [0x60, ints + floats, ...new Array<number>(ints).fill(I32), ...new Array<number>(floats).fill(F32), 0];
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(1, vector([type(6, 3), type(4, 2)])),
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vector([[0], [1]])),
    ...section(7, vector([[...name('sgd'), 0x00, 0], [...name('average'), 0x00, 1]])),
    ...section(10, vector([sgdFunction(), averageFunction()])),
  ]);
}

let compiled: object | null | undefined;
const instances = new WeakMap<object, UpdateModule | null>();

function updateModule(backend: WasmBackend, kernel: string): UpdateModule {
  const api = webAssemblyApi();
  const memory = backendMemory(backend);
  if (api !== undefined && memory !== undefined) {
    if (compiled === undefined) {
      try {
        compiled = new api.Module(moduleBytes());
      } catch {
        compiled = null;
      }
    }
    if (compiled !== null) {
      let instance = instances.get(memory);
      if (instance === undefined) {
        try {
          instance = new api.Instance(compiled, { env: { memory } }).exports as unknown as UpdateModule;
        } catch {
          instance = null;
        }
        instances.set(memory, instance);
      }
      if (instance !== null) return instance;
    }
  }
  throw new Error(`${kernel}: this wasm backend's memory cannot be imported`);
}

function sizeOf(kernel: string, ...infos: tf.TensorInfo[]): number {
  const size = tf.util.sizeFromShape(infos[0]!.shape);
  if (size % 4 !== 0 || infos.some((t) => tf.util.sizeFromShape(t.shape) !== size || t.dtype !== 'float32')) {
    throw new Error(`${kernel}: needs float32 tensors of one size, a multiple of 4; got ${infos.map((t) => `[${t.shape.join(', ')}] ${t.dtype}`).join(', ')}`);
  }
  return size;
}

export function sgdMomentumWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { theta, grad, velocity } = args.inputs as Record<'theta' | 'grad' | 'velocity', tf.TensorInfo>;
  const { learningRate, momentum, weightDecay } = args.attrs as unknown as { learningRate: number; momentum: number; weightDecay: number };
  const count = sizeOf(SGD_MOMENTUM, theta, grad, velocity);
  const module = updateModule(backend, SGD_MOMENTUM);
  const thetaOut = backend.makeOutput(theta.shape, 'float32');
  const velocityOut = backend.makeOutput(theta.shape, 'float32');
  try {
    const at = (t: tf.TensorInfo): number => offsetBytes(backend, t);
    module.sgd(at(theta), at(grad), at(velocity), at(thetaOut), at(velocityOut), count, learningRate, momentum, weightDecay);
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
  const out = backend.makeOutput(a.shape, 'float32');
  try {
    module.average(offsetBytes(backend, a), offsetBytes(backend, b), offsetBytes(backend, out), count, momentum, 1 - momentum);
  } catch (e) {
    release(backend, out);
    throw e;
  }
  return out;
}
