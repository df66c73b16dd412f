/**
 * A restricted unpickler for PyTorch checkpoints (issue 11: a checkpoint is data, never code).
 *
 * Python's pickle is a small stack machine whose GLOBAL/REDUCE opcodes can call any function
 * (a __reduce__ returning os.system is the classic exploit). This one runs the opcodes of
 * protocols 2-5 that plain containers need and resolves only an allow-list of globals:
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the
 * torch.*Storage types named in persistent ids. Any other global is refused at the opcode that
 * names it, before anything could call it, with an error naming it. Nothing here ever executes
 * Python: "calling" an allowed global builds a plain JavaScript value.
 */

export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

export type PickleKey = string | number;

/** dict and collections.OrderedDict (insertion order kept either way). */
export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
}

/** An allowed Python global, e.g. torch.FloatStorage in a persistent id. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage as the persistent id describes it; its bytes are found by `key` in the file. */
export class StorageRef {
  constructor(readonly storageType: string, readonly key: string, readonly numel: number, readonly elementOffset = 0) {}
}

/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) in elements. */
export class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PickleTuple | PickleDict | PickleGlobal | StorageRef | TensorRef | Set<PickleValue>;

export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...['Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map((t) => `torch.${t}Storage`),
]);

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

function asNumber(value: PickleValue, what: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint' && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(value);
  throw new PickleError(`${what}: expected an integer`);
}

function intList(value: PickleValue, what: string): number[] {
  const items = value instanceof PickleTuple ? value.items : Array.isArray(value) ? value : null;
  if (!items) throw new PickleError(`${what}: expected a tuple of integers`);
  return items.map((v) => asNumber(v, what));
}

/** Turns a persistent id (a tuple whose layout depends on the file format) into a storage. */
export type PersistentLoad = (pid: PickleValue) => StorageRef;

function callGlobal(fn: PickleGlobal, args: PickleValue[]): PickleValue {
  switch (fn.qualifiedName) {
    case 'collections.OrderedDict': {
      const dict = new PickleDict();
      const pairs = args[0];
      if (Array.isArray(pairs)) {
        for (const pair of pairs) {
          if (!(pair instanceof PickleTuple) || pair.items.length !== 2) throw new PickleError('OrderedDict: expected (key, value) pairs');
          dict.entries.set(dictKey(pair.items[0]!), pair.items[1]!);
        }
      }
      return dict;
    }
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef)) throw new PickleError('_rebuild_tensor_v2: the first argument is not a storage');
      return new TensorRef(storage, asNumber(offset ?? null, 'tensor offset'), intList(size ?? null, 'tensor size'), intList(stride ?? null, 'tensor stride'));
    }
    case 'torch._utils._rebuild_parameter': {
      const data = args[0];
      if (!(data instanceof TensorRef)) throw new PickleError('_rebuild_parameter: the first argument is not a tensor');
      return data;
    }
    default:
      throw new PickleError(`the checkpoint calls "${fn.qualifiedName}", which builds no data this reader knows (a checkpoint must be tensors and plain containers)`);
  }
}

function dictKey(value: PickleValue): PickleKey {
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'bigint') return asNumber(value, 'dict key');
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw new PickleError('a dict key is not a string or a number');
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Unpickles `bytes` from `start`; returns the value and the offset after STOP (legacy
 * checkpoints are several pickles back to back). `what` names the stream in errors.
 */
export function unpickle(bytes: Uint8Array, options: { start?: number; persistentLoad?: PersistentLoad; what: string }): { value: PickleValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (message: string, at: number): never => {
    throw new PickleError(`${options.what}: ${message} (byte ${at})`);
  };
  let p = options.start ?? 0;
  const need = (n: number): number => {
    if (p + n > bytes.length) fail('unexpected end of data: the file is truncated', p);
    const at = p;
    p += n;
    return at;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail('unexpected end of data in a text opcode: the file is truncated', p);
    const text = Buffer.from(bytes.subarray(p, end)).toString('latin1');
    p = end + 1;
    return text;
  };
  const text = (n: number): string => {
    const at = need(n);
    try {
      return decoder.decode(bytes.subarray(at, at + n));
    } catch {
      return fail('a string is not valid UTF-8', at);
    }
  };
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail('stack underflow (corrupt pickle)', p);
    return v;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail('MARK missing (corrupt pickle)', p);
    const items = stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail('stack underflow (corrupt pickle)', p);
    return v;
  };
  const global = (module: string, name: string, at: number): PickleGlobal => {
    const qualified = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(qualified)) {
      fail(`refused the Python global "${qualified}": a checkpoint may only name tensors, storages and OrderedDict (a pickle that names other globals can run code on load; this file is refused unread)`, at);
    }
    return new PickleGlobal(module, name);
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof PickleDict)) fail('SETITEM(S) on something that is not a dict', p);
    for (let i = 0; i + 1 < items.length; i += 2) (target as PickleDict).entries.set(dictKey(items[i]!), items[i + 1]!);
  };
  const long = (n: number): PickleValue => {
    const at = need(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]!);
    if (n > 0 && (bytes[at + n - 1]! & 0x80) !== 0) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  for (;;) {
    const at = need(1);
    const op = bytes[at]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME: framing only
      case 0x2e: return { value: pop(), end: p }; // STOP
      case 0x28: stack.push(MARK); break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(bytes[need(1)]!); break; // BININT1
      case 0x4d: stack.push(view.getUint16(need(2), true)); break; // BININT2
      case 0x49: { const t = line(); stack.push(t === '01' ? true : t === '00' ? false : Number.parseInt(t, 10)); break; } // INT
      case 0x4c: stack.push(BigInt(line().replace(/L$/, ''))); break; // LONG
      case 0x8a: stack.push(long(bytes[need(1)]!)); break; // LONG1
      case 0x8b: stack.push(long(view.getUint32(need(4), true))); break; // LONG4
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x46: stack.push(Number.parseFloat(line())); break; // FLOAT
      case 0x58: stack.push(text(view.getUint32(need(4), true))); break; // BINUNICODE
      case 0x8c: stack.push(text(bytes[need(1)]!)); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(text(asNumber(long(8), 'BINUNICODE8 length'))); break;
      case 0x54: case 0x55: { // BINSTRING, SHORT_BINSTRING (Python 2 str): latin-1
        const n = op === 0x54 ? view.getInt32(need(4), true) : bytes[need(1)]!;
        const s = need(n);
        stack.push(Buffer.from(bytes.subarray(s, s + n)).toString('latin1'));
        break;
      }
      case 0x42: case 0x43: case 0x8e: case 0x96: { // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
        const n = op === 0x42 ? view.getUint32(need(4), true) : op === 0x43 ? bytes[need(1)]! : asNumber(long(8), 'bytes length');
        const s = need(n);
        stack.push(bytes.slice(s, s + n));
        break;
      }
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); const list = top(); if (!Array.isArray(list)) fail('APPEND to something that is not a list', at); (list as PickleValue[]).push(v); break; }
      case 0x65: { const items = popMark(); const list = top(); if (!Array.isArray(list)) fail('APPENDS to something that is not a list', at); (list as PickleValue[]).push(...items); break; }
      case 0x29: stack.push(new PickleTuple([])); break;
      case 0x74: stack.push(new PickleTuple(popMark())); break;
      case 0x85: stack.push(new PickleTuple([pop()])); break;
      case 0x86: { const b = pop(); const a = pop(); stack.push(new PickleTuple([a, b])); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new PickleTuple([a, b, c])); break; }
      case 0x7d: stack.push(new PickleDict()); break; // EMPTY_DICT
      case 0x64: { const d = new PickleDict(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) fail('ADDITEMS to something that is not a set', at); for (const i of items) (s as Set<PickleValue>).add(i); break; }
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x63: { const module = line(); const name = line(); stack.push(global(module, name, at)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL without module and name strings', at);
        stack.push(global(module as string, name as string, at));
        break;
      }
      case 0x52: case 0x81: { // REDUCE, NEWOBJ: the callable must be an allowed global
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PickleGlobal)) fail('REDUCE/NEWOBJ of something that is not an allowed global', at);
        if (!(args instanceof PickleTuple)) fail('REDUCE/NEWOBJ arguments are not a tuple', at);
        stack.push(callGlobal(fn as PickleGlobal, (args as PickleTuple).items));
        break;
      }
      case 0x62: { // BUILD: OrderedDict's __dict__ (state_dict._metadata) is ignored; nothing else is built
        pop();
        const target = top();
        if (!(target instanceof PickleDict) && !(target instanceof TensorRef)) fail('BUILD of an object that is not an OrderedDict or a tensor', at);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('a persistent id where none is expected', at);
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case 0x71: memo.set(bytes[need(1)]!, top()); break; // BINPUT
      case 0x72: memo.set(view.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x70: memo.set(Number.parseInt(line(), 10), top()); break; // PUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: case 0x67: { // BINGET, LONG_BINGET, GET
        const index = op === 0x68 ? bytes[need(1)]! : op === 0x6a ? view.getUint32(need(4), true) : Number.parseInt(line(), 10);
        if (!memo.has(index)) fail(`memo entry ${index} missing (corrupt pickle)`, at);
        stack.push(memo.get(index)!);
        break;
      }
      default:
        fail(`pickle opcode 0x${op.toString(16).padStart(2, '0')} is not supported here (code-running opcodes such as INST/OBJ and extension codes are refused; a checkpoint needs none)`, at);
    }
  }
}
