/**
 * The few Protocol Buffers wire-format encodings the ONNX export needs (issue 12 item 4):
 * varints (wire type 0), 32-bit floats (5) and length-delimited bytes, strings and nested
 * messages (2). A message is built as a list of encoded fields and concatenated; field order is
 * free in the wire format. Repeated scalars are written unpacked (proto2's default, which ONNX's
 * proto2 schema declares; every parser also accepts packed).
 */
export type EncodedField = Buffer;

function varint(value: bigint): Buffer {
  if (value < 0n) value += 1n << 64n; // int64 negatives: two's complement, ten bytes
  const bytes: number[] = [];
  do {
    let byte = Number(value & 0x7fn);
    value >>= 7n;
    if (value !== 0n) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0n);
  return Buffer.from(bytes);
}

const key = (field: number, wireType: number): Buffer => varint(BigInt((field << 3) | wireType));

/** int32 / int64 / enum / bool field. */
export function intField(field: number, value: number | bigint): EncodedField {
  const v = typeof value === 'bigint' ? value : BigInt(value);
  return Buffer.concat([key(field, 0), varint(v)]);
}

export function floatField(field: number, value: number): EncodedField {
  const bytes = Buffer.alloc(4);
  bytes.writeFloatLE(value);
  return Buffer.concat([key(field, 5), bytes]);
}

export function bytesField(field: number, value: Uint8Array): EncodedField {
  return Buffer.concat([key(field, 2), varint(BigInt(value.length)), value]);
}

export function stringField(field: number, value: string): EncodedField {
  return bytesField(field, Buffer.from(value, 'utf8'));
}

/** A nested message: its fields, concatenated, as a length-delimited field. */
export function messageField(field: number, fields: readonly EncodedField[]): EncodedField {
  return bytesField(field, Buffer.concat(fields));
}

export function message(fields: readonly EncodedField[]): Buffer {
  return Buffer.concat(fields);
}
