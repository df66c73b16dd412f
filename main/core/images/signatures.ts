/**
 * The first bytes of each image format we decode (SUPPORTED_EXTENSIONS), so a file is refused
 * from its head instead of being read whole first (issue 13: a 1.5 GB file named .png).
 */

/** Bytes needed to recognise every format below (ISO BMFF's brand ends at byte 12). */
export const SIGNATURE_BYTES = 16;

const ascii = (text: string): number[] => Array.from(Buffer.from(text, 'latin1'));

function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  return bytes.every((b, i) => head[at + i] === b);
}

export function hasImageSignature(head: Uint8Array): boolean {
  return startsWith(head, [0xff, 0xd8, 0xff]) // JPEG
    || startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) // PNG
    || startsWith(head, ascii('GIF87a')) || startsWith(head, ascii('GIF89a'))
    || (startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8))
    || startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a]) // TIFF, little / big endian
    || startsWith(head, [0x49, 0x49, 0x2b, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2b]) // BigTIFF
    || startsWith(head, ascii('ftyp'), 4); // AVIF / HEIF (ISO base media file)
}

/** sharp's name of the format whose signature `head` starts with ("unknown" for none). */
export function imageFormatOf(head: Uint8Array): string {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47])) return 'png';
  if (startsWith(head, ascii('GIF8'))) return 'gif';
  if (startsWith(head, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(head, [0x49, 0x49]) || startsWith(head, [0x4d, 0x4d])) return 'tiff';
  return startsWith(head, ascii('ftyp'), 4) ? 'heif' : 'unknown';
}
