/**
 * Structured messages as one binary frame, for transports without structured clone (a WebSocket;
 * issue 8's test transport to a browser compute page). A MessagePort clones typed arrays itself
 * and needs none of this.
 *
 * Frame: u32 little-endian header length, the header (UTF-8: the JSON, a newline, the JSON list
 * of chunk byte lengths), zero padding to 8 bytes, then each typed array's bytes, each padded to 8. In the JSON a typed array is
 * {"$typed": kind, "$chunk": i} and a non-finite number {"$number": "NaN" | "Infinity" | "-Infinity"}
 * (JSON has neither). Decoded arrays own fresh buffers (they can be transferred on).
 */

const KINDS = { Float32Array, Float64Array, Int32Array, Uint32Array, Uint8Array } as const;
type Kind = keyof typeof KINDS;
type Typed = InstanceType<(typeof KINDS)[Kind]>;

function kindOf(value: ArrayBufferView): Kind {
  for (const [kind, ctor] of Object.entries(KINDS) as [Kind, (typeof KINDS)[Kind]][]) if (value instanceof ctor) return kind;
  throw new Error(`binary frame: ${value.constructor.name} cannot be sent (use Float32Array, Float64Array, Int32Array, Uint32Array or Uint8Array)`);
}

const pad8 = (n: number): number => (n + 7) & ~7;

export function encodeFrame(value: unknown): Uint8Array {
  const chunks: Typed[] = [];
  const header = JSON.stringify(value, function (this: unknown, _key: string, v: unknown): unknown {
    if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
    if (ArrayBuffer.isView(v)) {
      const kind = kindOf(v);
      chunks.push(v as Typed);
      return { $typed: kind, $chunk: chunks.length - 1 };
    }
    if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)) {
      throw new Error('binary frame: send typed arrays, not bare (Shared)ArrayBuffers');
    }
    return v;
  });
  // The chunk table (byte lengths) follows the JSON on its own line.
  const text = new TextEncoder().encode(`${header}\n${JSON.stringify(chunks.map((c) => c.byteLength))}`);
  let size = pad8(4 + text.length);
  const offsets = chunks.map((c) => {
    const at = size;
    size += pad8(c.byteLength);
    return at;
  });
  const frame = new Uint8Array(size);
  new DataView(frame.buffer).setUint32(0, text.length, true);
  frame.set(text, 4);
  chunks.forEach((c, i) => { frame.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), offsets[i]); });
  return frame;
}

export function decodeFrame(bytes: Uint8Array): unknown {
  if (bytes.byteLength < 4) throw new Error(`binary frame: ${bytes.byteLength} bytes is too short for a frame`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const textLength = view.getUint32(0, true);
  if (4 + textLength > bytes.byteLength) throw new Error('binary frame: header longer than the frame');
  const text = new TextDecoder().decode(bytes.subarray(4, 4 + textLength));
  const newline = text.lastIndexOf('\n');
  if (newline < 0) throw new Error('binary frame: no chunk table');
  const sizes = JSON.parse(text.slice(newline + 1)) as unknown;
  if (!Array.isArray(sizes) || !sizes.every((n) => Number.isInteger(n) && (n as number) >= 0)) throw new Error('binary frame: bad chunk table');
  const offsets: number[] = [];
  let at = pad8(4 + textLength);
  for (const n of sizes as number[]) {
    offsets.push(at);
    at += pad8(n);
  }
  if (at > bytes.byteLength) throw new Error('binary frame: chunks run past the end of the frame');
  return JSON.parse(text.slice(0, newline), (_key, v: unknown) => {
    if (v === null || typeof v !== 'object') return v;
    const o = v as { $typed?: unknown; $chunk?: unknown; $number?: unknown };
    if (typeof o.$number === 'string') return Number(o.$number);
    if (typeof o.$typed !== 'string' || typeof o.$chunk !== 'number') return v;
    const ctor = KINDS[o.$typed as Kind] as (typeof KINDS)[Kind] | undefined;
    const n = (sizes as number[])[o.$chunk];
    if (!ctor || n === undefined || n % ctor.BYTES_PER_ELEMENT !== 0) throw new Error(`binary frame: bad typed array ${o.$typed} #${o.$chunk}`);
    const start = bytes.byteOffset + offsets[o.$chunk]!;
    return new ctor(bytes.buffer.slice(start, start + n) as ArrayBuffer);
  }) as unknown;
}
