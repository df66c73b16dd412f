/**
 * Reads a PyTorch checkpoint (torch.save output) without Python, in both of its file formats:
 *
 * - zip (torch >= 1.6 default): `<archive>/data.pkl` pickles the object with persistent ids
 *   ('storage', StorageType, key, location, numel); the raw storage bytes are `<archive>/data/<key>`.
 * - legacy (torch < 1.6, and `_use_new_zipfile_serialization=False`): five things back to back:
 *   pickle(magic 0x1950a86a20f9469cfc6c), pickle(protocol 1001), pickle(sys info), the object
 *   pickle with ids ('storage', StorageType, root key, location, numel, view metadata), pickle
 *   (list of storage keys), then per key an int64 element count and the raw bytes.
 *   The official MoCo v1/v2 checkpoints (moco_v2_800ep_pretrain.pth.tar, 2020, PyTorch 1.4)
 *   are in this format.
 *
 * Tensors are returned as float32 whatever their dtype (float16/bfloat16/float64/integers are
 * converted), in PyTorch's logical (row-major) order; strides and offsets are honoured.
 */
import { PickleDict, PickleError, PickleGlobal, PickleTuple, StorageRef, TensorRef, unpickle, type PickleValue } from './restricted-unpickler.js';
import { looksLikeZip, ZipFormatError, ZipReader } from './zip-archive.js';

export class TorchCheckpointError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'TorchCheckpointError';
  }
}

export interface TorchTensor {
  readonly shape: number[];
  /** The dtype stored in the file (values are float32 here whatever it was). */
  readonly dtype: string;
  readonly values: Float32Array;
}

export interface TorchCheckpoint {
  readonly format: 'zip' | 'legacy';
  /** The unpickled object; tensors are TensorRef until `tensor()` reads them. */
  readonly root: PickleValue;
  tensor(ref: TensorRef): TorchTensor;
}

const ELEMENT: Record<string, { bytes: number; dtype: string }> = {
  FloatStorage: { bytes: 4, dtype: 'float32' }, DoubleStorage: { bytes: 8, dtype: 'float64' }, HalfStorage: { bytes: 2, dtype: 'float16' },
  BFloat16Storage: { bytes: 2, dtype: 'bfloat16' }, LongStorage: { bytes: 8, dtype: 'int64' }, IntStorage: { bytes: 4, dtype: 'int32' },
  ShortStorage: { bytes: 2, dtype: 'int16' }, CharStorage: { bytes: 1, dtype: 'int8' }, ByteStorage: { bytes: 1, dtype: 'uint8' }, BoolStorage: { bytes: 1, dtype: 'bool' },
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Element i of a storage, as a JavaScript number. */
function elementReader(bytes: Uint8Array, dtype: string): (i: number) => number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32': return (i) => view.getFloat32(i * 4, true);
    case 'float64': return (i) => view.getFloat64(i * 8, true);
    case 'float16': return (i) => halfToFloat(view.getUint16(i * 2, true));
    case 'bfloat16': { const scratch = new DataView(new ArrayBuffer(4)); return (i) => { scratch.setUint32(0, view.getUint16(i * 2, true) << 16); return scratch.getFloat32(0); }; }
    case 'int64': return (i) => Number(view.getBigInt64(i * 8, true));
    case 'int32': return (i) => view.getInt32(i * 4, true);
    case 'int16': return (i) => view.getInt16(i * 2, true);
    case 'int8': return (i) => view.getInt8(i);
    default: return (i) => view.getUint8(i);
  }
}

function storageInfo(pid: PickleValue, file: string): { type: string; key: string; numel: number; rest: PickleValue[] } {
  if (!(pid instanceof PickleTuple) || pid.items[0] !== 'storage') throw new TorchCheckpointError(file, 'a persistent id is not a storage (not a tensor checkpoint?)');
  const [, type, key, , numel, ...rest] = pid.items;
  if (!(type instanceof PickleGlobal) || typeof key !== 'string' || typeof numel !== 'number') throw new TorchCheckpointError(file, 'a storage id is malformed');
  if (!(type.name in ELEMENT)) throw new TorchCheckpointError(file, `storage type ${type.qualifiedName} is not supported`);
  return { type: type.name, key, numel, rest };
}

function materialise(ref: TensorRef, bytesOf: (storage: StorageRef) => Uint8Array, file: string): TorchTensor {
  const element = ELEMENT[ref.storage.storageType]!;
  const bytes = bytesOf(ref.storage);
  const read = elementReader(bytes, element.dtype);
  const count = ref.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  // Largest element index touched must lie inside the storage (a damaged file must not read past it).
  let last = ref.offset + ref.storage.elementOffset;
  ref.shape.forEach((n, d) => { if (n > 0) last += (n - 1) * ref.stride[d]!; });
  if (count > 0 && (last + 1) * element.bytes > bytes.length) {
    throw new TorchCheckpointError(file, `a tensor of shape [${ref.shape.join(', ')}] reaches past its storage "${ref.storage.key}" (${bytes.length} bytes): the file is truncated or damaged`);
  }
  const base = ref.offset + ref.storage.elementOffset;
  const rank = ref.shape.length;
  const contiguous = ref.stride.every((s, d) => s === ref.shape.slice(d + 1).reduce((a, b) => a * b, 1) || ref.shape[d] === 1);
  if (contiguous) {
    if (element.dtype === 'float32' && (bytes.byteOffset + base * 4) % 4 === 0) {
      values.set(new Float32Array(bytes.buffer, bytes.byteOffset + base * 4, count));
    } else {
      for (let i = 0; i < count; i++) values[i] = read(base + i);
    }
  } else {
    const index = new Array<number>(rank).fill(0);
    for (let i = 0; i < count; i++) {
      let at = base;
      for (let d = 0; d < rank; d++) at += index[d]! * ref.stride[d]!;
      values[i] = read(at);
      for (let d = rank - 1; d >= 0; d--) {
        if (++index[d]! < ref.shape[d]!) break;
        index[d] = 0;
      }
    }
  }
  return { shape: [...ref.shape], dtype: element.dtype, values };
}

function readZip(bytes: Uint8Array, file: string): TorchCheckpoint {
  const zip = new ZipReader(bytes);
  const pickleName = zip.names().find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pickleName) throw new TorchCheckpointError(file, 'a ZIP without <archive>/data.pkl: not a PyTorch checkpoint');
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  if (zip.has(`${prefix}byteorder`) && Buffer.from(zip.read(`${prefix}byteorder`)).toString('ascii').trim() !== 'little') {
    throw new TorchCheckpointError(file, 'saved on a big-endian machine: not supported');
  }
  const storages = new Map<string, Uint8Array>();
  const { value } = unpickle(zip.read(pickleName), {
    what: `${file} (${pickleName})`,
    persistentLoad: (pid) => {
      const { type, key, numel } = storageInfo(pid, file);
      return new StorageRef(type, key, numel);
    },
  });
  return {
    format: 'zip',
    root: value,
    tensor: (ref) => materialise(ref, (storage) => {
      let data = storages.get(storage.key);
      if (!data) {
        const name = `${prefix}data/${storage.key}`;
        if (!zip.has(name)) throw new TorchCheckpointError(file, `storage "${storage.key}" is missing from the archive (truncated?)`);
        data = zip.read(name);
        storages.set(storage.key, data);
      }
      return data;
    }, file),
  };
}

function readLegacy(bytes: Uint8Array, file: string): TorchCheckpoint {
  const what = `${file} (legacy format)`;
  const magic = unpickle(bytes, { what });
  if (magic.value !== LEGACY_MAGIC) {
    throw new TorchCheckpointError(file, 'not a PyTorch checkpoint (no zip header and no legacy magic number)');
  }
  const protocol = unpickle(bytes, { start: magic.end, what });
  if (protocol.value !== 1001) throw new TorchCheckpointError(file, `legacy protocol ${typeof protocol.value === 'number' ? protocol.value : 'missing'}, this reader knows 1001`);
  const sysInfo = unpickle(bytes, { start: protocol.end, what });
  if (sysInfo.value instanceof PickleDict && sysInfo.value.entries.get('little_endian') === false) throw new TorchCheckpointError(file, 'saved on a big-endian machine: not supported');
  const roots = new Map<string, { type: string; numel: number }>();
  const object = unpickle(bytes, {
    start: sysInfo.end,
    what,
    persistentLoad: (pid) => {
      const { type, key, numel, rest } = storageInfo(pid, file);
      if (!roots.has(key)) roots.set(key, { type, numel });
      const view = rest[0];
      if (view instanceof PickleTuple) {
        const [, offset, size] = view.items;
        return new StorageRef(type, key, Number(size), Number(offset));
      }
      return new StorageRef(type, key, numel);
    },
  });
  const keys = unpickle(bytes, { start: object.end, what });
  if (!Array.isArray(keys.value)) throw new TorchCheckpointError(file, 'legacy storage key list missing (truncated?)');
  const storages = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = keys.end;
  for (const key of keys.value) {
    if (typeof key !== 'string') throw new TorchCheckpointError(file, 'a legacy storage key is not a string');
    const info = roots.get(key);
    if (!info) throw new TorchCheckpointError(file, `storage "${key}" is stored but never used`);
    if (p + 8 > bytes.length) throw new TorchCheckpointError(file, `storage "${key}" is cut off: the file is truncated`);
    const count = Number(view.getBigInt64(p, true));
    const length = count * ELEMENT[info.type]!.bytes;
    if (count !== info.numel) throw new TorchCheckpointError(file, `storage "${key}" holds ${count} elements, its id says ${info.numel} (damaged file)`);
    if (p + 8 + length > bytes.length) throw new TorchCheckpointError(file, `storage "${key}" is cut off: the file is truncated`);
    storages.set(key, bytes.subarray(p + 8, p + 8 + length));
    p += 8 + length;
  }
  return {
    format: 'legacy',
    root: object.value,
    tensor: (ref) => materialise(ref, (storage) => {
      const data = storages.get(storage.key);
      if (!data) throw new TorchCheckpointError(file, `storage "${storage.key}" has no data (truncated?)`);
      return data;
    }, file),
  };
}

/** Parses a checkpoint; every failure is a TorchCheckpointError naming the file and the reason. */
export function readTorchCheckpoint(bytes: Uint8Array, file: string): TorchCheckpoint {
  const checkpoint = withFileErrors(file, () => {
    if (looksLikeZip(bytes)) return readZip(bytes, file);
    if (bytes[0] === 0x80) return readLegacy(bytes, file);
    throw new TorchCheckpointError(file, 'not a PyTorch checkpoint (neither a zip archive nor a pickle)');
  });
  // Storages are read when a tensor is first asked for: their errors name the file too.
  return { ...checkpoint, tensor: (ref) => withFileErrors(file, () => checkpoint.tensor(ref)) };
}

function withFileErrors<T>(file: string, body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof TorchCheckpointError) throw error;
    if (error instanceof PickleError || error instanceof ZipFormatError) throw new TorchCheckpointError(file, error.message);
    throw new TorchCheckpointError(file, `cannot be read: ${(error as Error).message}`);
  }
}
