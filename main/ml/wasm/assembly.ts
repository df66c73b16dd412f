/**
 * A few helpers for assembling small WebAssembly modules from their instructions, with no
 * toolchain and nothing downloaded (issues 9 and 14): LEB128 numbers, the opcodes used, counted
 * loops, the module's sections, and instances on an imported memory. The modules built with it
 * are resize-wasm.ts's Lanczos passes and, in main/ml/wasm-kernels/, the Winograd transforms,
 * the GEMMs, the BatchNorm passes and the parameter updates.
 */

// Value types, control and integer opcodes (WebAssembly core 2.0).
export const I32 = 0x7f, F32 = 0x7d, F64 = 0x7c, V128 = 0x7b;
export const IF = 0x04, ELSE = 0x05, LOOP = 0x03, END = 0x0b, BR_IF = 0x0d, GET = 0x20, SET = 0x21, TEE = 0x22, SELECT = 0x1b;
export const I32_LOAD = 0x28, F64_LOAD = 0x2b, I32_STORE8 = 0x3a, I32_CONST = 0x41, F64_CONST = 0x44;
export const I32_LT_U = 0x49, I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_AND = 0x71, I32_SHL = 0x74, I32_SHR_U = 0x76, F32_STORE = 0x38;
export const F64_NEAREST = 0x9e, F64_ADD = 0xa0, F64_MUL = 0xa2, F64_MIN = 0xa4, F64_MAX = 0xa5, I32_TRUNC_F64_U = 0xab;
/** The SIMD prefix; the op after it is LEB128-coded (`simd(op)`). */
export const SIMD = 0xfd;
export const V128_LOAD = 0x00, V128_STORE = 0x0b, V128_CONST = 0x0c, F64X2_SPLAT = 0x14, F32X4_EXTRACT_LANE = 0x1f, F64X2_EXTRACT = 0x21;
export const I8X16_SHUFFLE = 0x0d;
export const F32X4_NEG = 0xe1, F32X4_ADD = 0xe4, F32X4_SUB = 0xe5, F32X4_MUL = 0xe6, F32X4_MAX = 0xe9, F64X2_ADD = 0xf0, F64X2_MUL = 0xf2;
export const F32X4_GT = 0x44, V128_AND = 0x4e;

export function uleb(value: number): number[] {
  const bytes: number[] = [];
  do {
    const low = value & 0x7f;
    value >>>= 7;
    bytes.push(value === 0 ? low : low | 0x80);
  } while (value !== 0);
  return bytes;
}

export function sleb(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const low = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (low & 0x40) === 0) || (value === -1 && (low & 0x40) !== 0);
    bytes.push(done ? low : low | 0x80);
    if (done) return bytes;
  }
}

export const simd = (op: number): number[] => [SIMD, ...uleb(op)];
export const get = (local: number): number[] => [GET, ...uleb(local)];
export const set = (local: number): number[] => [SET, ...uleb(local)];
export const i32 = (value: number): number[] => [I32_CONST, ...sleb(value)];
export const f64 = (value: number): number[] => [F64_CONST, ...new Uint8Array(new Float64Array([value]).buffer)];
/** An f32x4 constant with `value` in every lane. */
export const f32x4 = (value: number): number[] => [SIMD, ...uleb(V128_CONST), ...new Uint8Array(new Float32Array([value, value, value, value]).buffer)];
/** A memory access: alignment (log2) and a constant offset. */
export const mem = (align: number, offset = 0): number[] => [...uleb(align), ...uleb(offset)];
/** local += step (i32). */
export const bump = (local: number, step: number[]): number[] => [...get(local), ...step, I32_ADD, ...set(local)];
/** A do-while loop over counter < limit (every count must be at least 1): body, counter += step, repeat. */
export const countedLoop = (counter: number, limit: number, body: number[], step = 1): number[] => [
  ...i32(0), ...set(counter), LOOP, 0x40, ...body, ...get(counter), ...i32(step), I32_ADD, TEE, ...uleb(counter), ...get(limit), I32_LT_U, BR_IF, 0, END,
];

/** A function body: its locals as (count, type) runs, its code, END; prefixed by its size. */
export function functionCode(locals: [number, number][], body: number[]): number[] {
  const code = [...uleb(locals.length), ...locals.flatMap(([count, type]) => [...uleb(count), type]), ...body, END];
  return [...uleb(code.length), ...code];
}

export const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
export const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const name = (text: string): number[] => [...uleb(text.length), ...Buffer.from(text, 'utf8')];
/** A function type of `params` i32 parameters and no result. */
export const i32Procedure = (params: number): number[] => procedure(params);
export const MAGIC_AND_VERSION = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** The part of the WebAssembly JavaScript API used here (Node has it; @types/node does not declare it). */
export interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
}

/** The global WebAssembly object, or undefined where there is none. */
export function webAssemblyApi(): WebAssemblyApi | undefined {
  return (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
}

/** The import section of a module that works on one memory: env.memory, limits flag 0 and minimum 0 (any size or maximum). */
const memoryImport = (): number[] => section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]]));

/** A function type of `ints` i32 then `floats` f32 parameters and no result. */
export const procedure = (ints: number, floats = 0): number[] => [0x60, ...uleb(ints + floats), ...new Array<number>(ints).fill(I32), ...new Array<number>(floats).fill(F32), 0];

/**
 * The bytes of a module that imports env.memory and exports `functions` in order, each with its
 * type (equal types are declared once) and its code (functionCode).
 */
export function memoryModule(functions: readonly { readonly name: string; readonly type: number[]; readonly code: number[] }[]): Uint8Array {
  const types = [...new Set(functions.map((f) => f.type.join(',')))];
  return new Uint8Array([
    ...MAGIC_AND_VERSION,
    ...section(1, vector(types.map((t) => t.split(',').map(Number)))),
    ...memoryImport(),
    ...section(3, vector(functions.map((f) => uleb(types.indexOf(f.type.join(',')))))),
    ...section(7, vector(functions.map((f, k) => [...name(f.name), 0x00, ...uleb(k)]))),
    ...section(10, vector(functions.map((f) => f.code))),
  ]);
}

const compiledModules = new Map<string, object | null>();
const instancesByMemory = new WeakMap<object, Map<string, object | null>>();

/**
 * The exports of the module `key` (built once by `bytes`) instantiated on `memory` (a
 * WebAssembly.Memory, e.g. the tfjs wasm backend's), one instance per memory; null where this
 * runtime has no WebAssembly (or no SIMD: the module does not compile) or the memory cannot be
 * imported (a threaded build's shared memory, which the import does not declare).
 */
export function instanceOnMemory(key: string, bytes: () => Uint8Array, memory: object): object | null {
  const api = webAssemblyApi();
  if (api === undefined) return null;
  let module = compiledModules.get(key);
  if (module === undefined) {
    try {
      module = new api.Module(bytes());
    } catch {
      module = null;
    }
    compiledModules.set(key, module);
  }
  if (module === null) return null;
  const perMemory = instancesByMemory.get(memory) ?? new Map<string, object | null>();
  instancesByMemory.set(memory, perMemory);
  let exports = perMemory.get(key);
  if (exports === undefined) {
    try {
      exports = new api.Instance(module, { env: { memory } }).exports;
    } catch {
      exports = null;
    }
    perMemory.set(key, exports);
  }
  return exports;
}
