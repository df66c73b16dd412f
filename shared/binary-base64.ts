/**
 * Float32 (and Int32) arrays inside JSON messages as base64 of their little-endian bytes: the
 * compact map reply of issue 14 (100k points: 1.07 MB of text instead of ~3.5 MB of JSON
 * numbers, and no per-number parsing). Pure code, so the same codec runs in Node and the browser.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** Matches what encodeBase64 writes (standard alphabet, padded). */
export const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  const CHUNK = 3 * 16_384;
  for (let start = 0; start < bytes.length; start += CHUNK) {
    const end = Math.min(bytes.length, start + CHUNK);
    const chars: string[] = [];
    for (let i = start; i < end; i += 3) {
      const a = bytes[i]!; const b = i + 1 < end ? bytes[i + 1]! : 0; const c = i + 2 < end ? bytes[i + 2]! : 0;
      chars.push(ALPHABET[a >> 2]!, ALPHABET[((a & 3) << 4) | (b >> 4)]!, i + 1 < end ? ALPHABET[((b & 15) << 2) | (c >> 6)]! : '=', i + 2 < end ? ALPHABET[c & 63]! : '=');
    }
    parts.push(chars.join(''));
  }
  return parts.join('');
}

/** Byte length that `text` (valid base64) decodes to. */
export function decodedLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

export function decodeBase64(text: string): Uint8Array {
  if (!BASE64_PATTERN.test(text)) throw new Error('not base64 (standard alphabet, padded)');
  const out = new Uint8Array(decodedLength(text));
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const a = LOOKUP[text.charCodeAt(i)]!; const b = LOOKUP[text.charCodeAt(i + 1)]!;
    const c = LOOKUP[text.charCodeAt(i + 2)]!; const d = LOOKUP[text.charCodeAt(i + 3)]!;
    out[o++] = (a << 2) | (b >> 4);
    if (c >= 0 && o < out.length) out[o++] = ((b & 15) << 4) | (c >> 2);
    if (d >= 0 && o < out.length) out[o++] = ((c & 3) << 6) | d;
  }
  return out;
}

function littleEndian(bytes: Uint8Array): Uint8Array {
  if (littleEndianHost) return bytes;
  const copy = Uint8Array.from(bytes);
  for (let i = 0; i + 3 < copy.length; i += 4) copy.subarray(i, i + 4).reverse();
  return copy;
}

export function float32ToBase64(values: Float32Array): string {
  return encodeBase64(littleEndian(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
}

export function base64ToFloat32(text: string): Float32Array {
  const bytes = littleEndian(decodeBase64(text));
  if (bytes.length % 4 !== 0) throw new Error(`${bytes.length} bytes is not a whole number of float32 values`);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

export function int32ToBase64(values: Int32Array): string {
  return encodeBase64(littleEndian(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
}

export function base64ToInt32(text: string): Int32Array {
  const bytes = littleEndian(decodeBase64(text));
  if (bytes.length % 4 !== 0) throw new Error(`${bytes.length} bytes is not a whole number of int32 values`);
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}
