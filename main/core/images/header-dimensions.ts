/**
 * Width and height from an image file's first bytes (issue 12 item 1), so the folder check refuses
 * what decode would refuse for its size (too small, too many pixels) before Start: a folder of
 * 1x1 spacer GIFs and one photo counted every GIF as an image, started a run and failed it with
 * "1 usable image". Parsed here, not with sharp: a sharp metadata call cost 0.5 ms a file against
 * 0.34 ms for the whole head check (5,000 24-px PNGs, 64 in flight, load 7.5), and the check runs
 * on every file of a 100k folder. PNG, GIF and WebP keep their size in the first 30 bytes; JPEG in
 * a SOF segment after the APPn segments (EXIF, ICC), found by following the segment lengths.
 * TIFF and AVIF are left to the trainer (their sizes can sit anywhere in the file).
 */

export interface Dimensions { readonly width: number; readonly height: number }

/** Bytes read first: enough for PNG, GIF and WebP, and the start of a JPEG's segments. */
export const DIMENSION_HEAD_BYTES = 1024;
/** A JPEG whose frame header is not within this many bytes is left to the trainer. */
export const JPEG_SCAN_LIMIT = 1 << 20;

/** What headDimensions needs: the dimensions, none to be had (unknown format or layout), or more bytes (a prefix of this length). */
export type HeadAnswer = { readonly dimensions: Dimensions } | { readonly unknown: true } | { readonly needBytes: number };

const UNKNOWN: HeadAnswer = { unknown: true };

function text(head: Uint8Array, at: number, value: string): boolean {
  for (let i = 0; i < value.length; i++) if (head[at + i] !== value.charCodeAt(i)) return false;
  return true;
}

const u16be = (h: Uint8Array, at: number): number => (h[at]! << 8) | h[at + 1]!;
const u16le = (h: Uint8Array, at: number): number => h[at]! | (h[at + 1]! << 8);
const u24le = (h: Uint8Array, at: number): number => h[at]! | (h[at + 1]! << 8) | (h[at + 2]! << 16);
const u32be = (h: Uint8Array, at: number): number => ((h[at]! << 24) >>> 0) + (h[at + 1]! << 16) + (h[at + 2]! << 8) + h[at + 3]!;

function known(width: number, height: number): HeadAnswer {
  return { dimensions: { width, height } };
}

function webp(head: Uint8Array): HeadAnswer {
  if (head.length < 30) return UNKNOWN;
  if (text(head, 12, 'VP8X')) return known(u24le(head, 24) + 1, u24le(head, 27) + 1);
  if (text(head, 12, 'VP8L') && head[20] === 0x2f) {
    const bits = head[21]! | (head[22]! << 8) | (head[23]! << 16) | (head[24]! << 24);
    return known((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (text(head, 12, 'VP8 ') && head[23] === 0x9d && head[24] === 0x01 && head[25] === 0x2a) return known(u16le(head, 26) & 0x3fff, u16le(head, 28) & 0x3fff);
  return UNKNOWN;
}

/** Start-of-frame markers (baseline, progressive, lossless, arithmetic), not DHT (C4), JPG (C8) or DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpeg(head: Uint8Array, fileSize: number): HeadAnswer {
  let at = 2;
  for (;;) {
    if (at + 9 > head.length) {
      const wanted = Math.min(fileSize, JPEG_SCAN_LIMIT, Math.max(at + 9, head.length * 2));
      return wanted > head.length ? { needBytes: wanted } : UNKNOWN;
    }
    if (head[at] !== 0xff) return UNKNOWN;
    const marker = head[at + 1]!;
    if (marker === 0xff) { at++; continue; } // fill byte
    if (isStartOfFrame(marker)) return known(u16be(head, at + 7), u16be(head, at + 5));
    if (marker === 0xd9 || marker === 0xda) return UNKNOWN; // end of image, or scan data before any frame header
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { at += 2; continue; } // no length
    at += 2 + u16be(head, at + 2);
  }
}

/** The dimensions in `head` (the file's first bytes; `fileSize` the whole file's). */
export function headDimensions(head: Uint8Array, fileSize: number): HeadAnswer {
  if (head.length >= 24 && head[0] === 0x89 && text(head, 1, 'PNG') && text(head, 12, 'IHDR')) return known(u32be(head, 16), u32be(head, 20));
  if (head.length >= 10 && text(head, 0, 'GIF8')) return known(u16le(head, 6), u16le(head, 8));
  if (head.length >= 12 && text(head, 0, 'RIFF') && text(head, 8, 'WEBP')) return webp(head);
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return jpeg(head, fileSize);
  return UNKNOWN;
}
