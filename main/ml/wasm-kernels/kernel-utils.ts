/**
 * Shared plumbing for the wasm training kernels: a typed view of the wasm backend, calls into
 * the stock (fast, XNNPACK- or C++-backed) kernels by name, and heap copies that avoid the
 * stock `Slice`, which copies its whole input on every call (it goes through `readSync`).
 *
 * Every helper works on `TensorInfo` (kernel level), not `Tensor`: nothing here is tracked by
 * the engine, so each intermediate must be released with `release()`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One entry of the wasm backend's `dataIdMap` (tfjs-backend-wasm/dist/backend_wasm.d.ts). */
export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/**
 * The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. Declared here rather than
 * imported because the published typings reference `EmscriptenModule` from @types/emscripten,
 * which this project does not install (it would resolve to `any`).
 */
export interface WasmBackend {
  dataIdMap: {
    get(dataId: object): WasmTensorData | undefined;
    has(dataId: object): boolean;
  };
  wasm: { HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  refCount(dataId: object): number;
  numDataIds(): number;
}

/** `tf.getKernel` is typed as always returning a config, but returns undefined when none is
 *  registered; this says so to the type checker. */
export function wasmKernel(name: string): tf.KernelConfig | undefined {
  return tf.getKernel(name, 'wasm');
}

export function asWasm(backend: unknown): WasmBackend {
  const b = backend as Partial<WasmBackend> | null;
  if (b?.dataIdMap === undefined || b.wasm === undefined || typeof b.makeOutput !== 'function') {
    throw new Error('wasm-kernels: expected the tfjs wasm backend');
  }
  return b as WasmBackend;
}

/**
 * Calls the kernel currently registered for `name` on wasm. Used for the stock kernels these
 * modules never replace (Transpose, Reshape, Fill) and for Conv2D, whose replacement only calls
 * the stock one (callStock), so there is no recursion.
 */
export function callKernel(
  name: string,
  backend: WasmBackend,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const config = wasmKernel(name);
  if (config === undefined) throw new Error(`wasm-kernels: kernel ${name} is not registered on wasm`);
  const out = config.kernelFunc({ inputs, backend: backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm-kernels: ${name} returned several outputs`);
  return out;
}

/** Releases kernel-level intermediates (the engine does not know about them). */
export function release(backend: WasmBackend, ...infos: (tf.TensorInfo | undefined)[]): void {
  for (const info of infos) if (info !== undefined) backend.disposeData(info.dataId);
}

/** A zero-copy reshape (the stock wasm Reshape shares the buffer and bumps its refCount). */
export function reshape(backend: WasmBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return callKernel('Reshape', backend, { x }, { shape });
}

/** The stock C++ transpose: a single pass, much faster than a JS loop. */
export function transpose(backend: WasmBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return callKernel('Transpose', backend, { x }, { perm });
}

export interface Pads {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * The stock XNNPACK Conv2D with explicit (possibly asymmetric) padding. XNNPACK pads virtually
 * (its indirection buffer points at a zero row), so no padded copy of `x` is ever made.
 * x [N, H, W, Ci], filter [KH, KW, Ci, Co] -> [N, Ho, Wo, Co].
 */
export function conv2d(
  backend: WasmBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  strides: [number, number],
  pads: Pads,
  dilations: [number, number] = [1, 1],
): tf.TensorInfo {
  const pad = [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [0, 0]];
  return callKernel('Conv2D', backend, { x, filter }, {
    strides,
    pad,
    dilations,
    dataFormat: 'NHWC',
  });
}

/**
 * C = A B for row-major A [M, K] and B [K, N] (any shapes holding M*K and K*N values) on the
 * stock `_FusedMatMul` kernel, i.e. XNNPACK's fully-connected operator -> [M, N].
 * Preferred over a 1x1 Conv2D whenever B is a fresh tensor (a gradient, a queue that changed):
 * both build their XNNPACK operator once per B, but Conv2D first runs tfjs's generic C++
 * transpose over the filter and packs it as a conv, which for a tall B cost 5-50x the GEMM
 * itself (B [32768, 16]: ~56 ms vs ~10 ms; the [128, 4096] queue: ~50 ms vs ~2.5 ms).
 * Without transposes only: with transposeA/B the stock kernel takes a naive loop.
 */
export function matMul(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  m: number,
  k: number,
  n: number,
): tf.TensorInfo {
  const a3 = reshape(backend, a, [1, m, k]);
  const b3 = reshape(backend, b, [1, k, n]);
  let out: tf.TensorInfo;
  try {
    out = callKernel('_FusedMatMul', backend, { a: a3, b: b3 }, {
      transposeA: false,
      transposeB: false,
      activation: 'linear',
      leakyreluAlpha: 0,
    });
  } finally {
    release(backend, a3, b3);
  }
  const c = reshape(backend, out, [m, n]);
  release(backend, out);
  return c;
}

/** A fresh Float32Array over the whole wasm heap. Re-create it after any allocation: growing
 *  the heap detaches the previous ArrayBuffer. */
export function heapF32(backend: WasmBackend): Float32Array {
  const u8 = backend.wasm.HEAPU8;
  return new Float32Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 2);
}

/** Byte offset of a tensor in the backend's memory (what wasm code is handed as a pointer). */
export function offsetBytes(backend: WasmBackend, x: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(x.dataId);
  if (data === undefined) throw new Error('wasm-kernels: unknown dataId');
  return data.memoryOffset;
}

/**
 * The backend's WebAssembly.Memory (Emscripten's `Module.asm.memory` in tfjs-backend-wasm 4.x), or
 * undefined: the assembled modules (Winograd transforms, outer products) import it to work on
 * tensors in place. A build without it makes those kernels fall back to XNNPACK's routes.
 */
export function backendMemory(backend: WasmBackend): object | undefined {
  const memory = (backend.wasm as { asm?: { memory?: unknown } }).asm?.memory;
  return typeof memory === 'object' && memory !== null && 'buffer' in memory ? memory : undefined;
}

/** Element offset (in float32 units) of a tensor inside `heapF32`. */
export function offsetF32(backend: WasmBackend, x: tf.TensorInfo): number {
  return offsetBytes(backend, x) >>> 2;
}

/** A new float32 tensor filled with zeros. */
export function zeros(backend: WasmBackend, shape: number[]): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  const size = tf.util.sizeFromShape(shape);
  const o = offsetF32(backend, out);
  heapF32(backend).fill(0, o, o + size);
  return out;
}

/**
 * Copies the box `begin`/`size` of `x` into a new tensor, reading the heap in place (the stock
 * wasm Slice first copies all of `x` out of the heap with `readSync`). Works for every numeric
 * dtype (bytes are copied); string tensors are not handled.
 * Trailing dimensions taken whole are merged so that each `copyWithin` moves one long run.
 */
export function sliceCopy(
  backend: WasmBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = tf.util.sizeFromShape(size);
  if (total === 0) return out;
  const bpe = tf.util.bytesPerElement(x.dtype);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape); // rank - 1 entries, in elements
  const stride = (d: number): number => (d === rank - 1 ? 1 : strides[d]!);
  // The innermost run: dims from `inner` on are contiguous in both x and out.
  let inner = rank - 1;
  while (inner > 0 && size[inner] === x.shape[inner]) inner--;
  let run = 1;
  for (let d = inner; d < rank; d++) run *= size[d]!;
  const xData = backend.dataIdMap.get(x.dataId)!;
  const outData = backend.dataIdMap.get(out.dataId)!;
  const heap = backend.wasm.HEAPU8; // read after makeOutput: the heap may have grown
  let base = xData.memoryOffset;
  for (let d = 0; d < rank; d++) base += begin[d]! * stride(d) * bpe;
  const runBytes = run * bpe;
  // Odometer over the outer dims [0, inner).
  const idx = new Array<number>(inner).fill(0);
  const count = total / run;
  let dst = outData.memoryOffset;
  for (let r = 0; r < count; r++) {
    let src = base;
    for (let d = 0; d < inner; d++) src += idx[d]! * stride(d) * bpe;
    heap.copyWithin(dst, src, src + runBytes);
    dst += runBytes;
    for (let d = inner - 1; d >= 0; d--) {
      const next = idx[d]! + 1;
      if (next < size[d]!) {
        idx[d] = next;
        break;
      }
      idx[d] = 0;
    }
  }
  return out;
}

/** Normalises an `[h, w] | n` attribute. */
export function pair(v: number | number[]): [number, number] {
  if (typeof v === 'number') return [v, v];
  return [v[0]!, v[1] ?? v[0]!];
}

/** Floor/ceil of a/b for integers with b > 0, also for negative a. */
export const floorDiv = (a: number, b: number): number => Math.floor(a / b);
export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * The stock wasm kernels that registration replaced, kept so a replacement can still fall back
 * to them (e.g. BatchMatMul with a batched B). Filled by `index.ts` before it unregisters one.
 */
const stockKernels = new Map<string, tf.KernelConfig>();

export function rememberStock(config: tf.KernelConfig): void {
  if (!stockKernels.has(config.kernelName)) stockKernels.set(config.kernelName, config);
}

export function stockKernel(name: string): tf.KernelConfig | undefined {
  return stockKernels.get(name);
}

/** Calls the stock kernel that was registered for `name` before ours replaced it. */
export function callStock(
  name: string,
  backend: WasmBackend,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo | tf.TensorInfo[] {
  const config = stockKernels.get(name) ?? wasmKernel(name);
  if (config === undefined) throw new Error(`wasm-kernels: no stock ${name} kernel on wasm`);
  return config.kernelFunc({ inputs, backend: backend, attrs });
}
