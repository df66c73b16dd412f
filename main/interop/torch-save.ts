/**
 * Writes what `torch.load` reads (issue 11): the zip format of torch.save >= 1.6, with a protocol-2
 * pickle of plain values, OrderedDicts and tensors. A tensor is pickled as PyTorch does:
 *   torch._utils._rebuild_tensor_v2(persistent_id(('storage', torch.FloatStorage, key, 'cpu', numel)),
 *                                   0, size, stride, False, OrderedDict())
 * with its bytes in `archive/data/<key>` (little-endian, contiguous). Only the globals our own
 * reader allows are emitted, so an export passes our restricted unpickler too.
 */
import { writeStoredZip } from './zip-archive.js';

export interface SaveTensor {
  readonly kind: 'tensor';
  readonly dtype: 'float32' | 'int64';
  readonly shape: readonly number[];
  readonly values: Float32Array | readonly number[];
}

export type SaveValue = null | boolean | number | string | SaveTensor | readonly SaveValue[] | ReadonlyMap<string, SaveValue>;

export function floatTensor(shape: readonly number[], values: Float32Array): SaveTensor {
  return { kind: 'tensor', dtype: 'float32', shape, values };
}

export function longTensor(shape: readonly number[], values: readonly number[]): SaveTensor {
  return { kind: 'tensor', dtype: 'int64', shape, values };
}

class PickleWriter {
  private readonly chunks: Buffer[] = [];
  readonly storages: { key: string; data: Uint8Array }[] = [];

  byte(...values: number[]): void {
    this.chunks.push(Buffer.from(values));
  }

  global(module: string, name: string): void {
    this.chunks.push(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
  }

  string(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    this.chunks.push(Buffer.from([0x58]), length, bytes); // BINUNICODE
  }

  int(value: number): void {
    if (!Number.isSafeInteger(value)) throw new Error(`cannot pickle ${value} as an integer`);
    if (value >= 0 && value < 256) { this.byte(0x4b, value); return; } // BININT1
    if (value >= -(2 ** 31) && value < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(value, 1);
      this.chunks.push(b);
      return;
    }
    const b = Buffer.alloc(10);
    b[0] = 0x8a; // LONG1, 8 bytes two's complement
    b[1] = 8;
    b.writeBigInt64LE(BigInt(value), 2);
    this.chunks.push(b);
  }

  float(value: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT, big-endian
    b.writeDoubleBE(value, 1);
    this.chunks.push(b);
  }

  intTuple(values: readonly number[]): void {
    this.byte(0x28);
    for (const v of values) this.int(v);
    this.byte(0x74);
  }

  orderedDict(entries: Iterable<[string, SaveValue]>): void {
    this.global('collections', 'OrderedDict');
    this.byte(0x29, 0x52); // EMPTY_TUPLE, REDUCE
    this.byte(0x28); // MARK
    for (const [key, value] of entries) {
      this.string(key);
      this.value(value);
    }
    this.byte(0x75); // SETITEMS
  }

  tensor(t: SaveTensor): void {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.values.length !== numel) throw new Error(`tensor of shape [${t.shape.join(', ')}] has ${t.values.length} values`);
    const key = String(this.storages.length);
    let data: Uint8Array;
    if (t.dtype === 'float32') {
      const values = Float32Array.from(t.values);
      data = new Uint8Array(values.buffer);
    } else {
      const values = new BigInt64Array(numel);
      for (let i = 0; i < numel; i++) values[i] = BigInt(t.values[i]!);
      data = new Uint8Array(values.buffer);
    }
    this.storages.push({ key, data });
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(0x28); // MARK: the argument tuple
    this.byte(0x28); // MARK: the persistent id
    this.string('storage');
    this.global('torch', t.dtype === 'float32' ? 'FloatStorage' : 'LongStorage');
    this.string(key);
    this.string('cpu');
    this.int(numel);
    this.byte(0x74, 0x51); // TUPLE, BINPERSID
    this.int(0);
    this.intTuple(t.shape);
    this.intTuple(stride);
    this.byte(0x89); // requires_grad False
    this.global('collections', 'OrderedDict');
    this.byte(0x29, 0x52); // backward_hooks = OrderedDict()
    this.byte(0x74, 0x52); // TUPLE, REDUCE
  }

  value(v: SaveValue): void {
    if (v === null) this.byte(0x4e);
    else if (v === true) this.byte(0x88);
    else if (v === false) this.byte(0x89);
    else if (typeof v === 'number') {
      if (Number.isInteger(v)) this.int(v);
      else this.float(v);
    } else if (typeof v === 'string') this.string(v);
    else if (v instanceof Map) this.orderedDict(v);
    else if (Array.isArray(v)) {
      this.byte(0x5d, 0x28); // EMPTY_LIST, MARK
      for (const item of v as readonly SaveValue[]) this.value(item);
      this.byte(0x65); // APPENDS
    } else this.tensor(v as SaveTensor);
  }

  finish(): Buffer {
    return Buffer.concat([Buffer.from([0x80, 0x02]), ...this.chunks, Buffer.from([0x2e])]);
  }
}

/** The bytes of `torch.save(value, f)` in the zip format. */
export function torchSaveZip(value: SaveValue): Buffer {
  const writer = new PickleWriter();
  writer.value(value);
  const pickle = writer.finish();
  return writeStoredZip([
    { name: 'archive/data.pkl', data: pickle },
    { name: 'archive/byteorder', data: Buffer.from('little') },
    ...writer.storages.map((s) => ({ name: `archive/data/${s.key}`, data: s.data })),
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}
