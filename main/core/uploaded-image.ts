/**
 * An outside image uploaded from the browser for a neighbour search (issue 12 item 7): its bytes
 * come over the socket (base64 in a validated neighbours:query, at most MAX_UPLOAD_BYTES), never
 * as a path on the server. They are checked for an image signature, written to a private
 * temporary file in the data directory (0600) and decoded by the trainer's embed-files job with
 * the same safe decode path as every image (main/core/images/decode.ts: size limit, signature,
 * sharp with the pixel guard); the file is removed afterwards, whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_UPLOAD_BYTES } from '../../shared/contract.js';
import { hasImageSignature, SIGNATURE_BYTES } from './images/signatures.js';

export class UploadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadError';
  }
}

/** The upload's bytes, or an UploadError naming the file and what is wrong with it. */
export function decodeUpload(upload: { name: string; base64: string }): Buffer {
  const bytes = Buffer.from(upload.base64, 'base64');
  if (bytes.length === 0) throw new UploadError(`${upload.name}: the upload is empty`);
  if (bytes.length > MAX_UPLOAD_BYTES) throw new UploadError(`${upload.name}: ${bytes.length} bytes, more than the ${MAX_UPLOAD_BYTES} an upload may have; the app shrinks larger images before sending, so send it again`);
  if (!hasImageSignature(bytes.subarray(0, SIGNATURE_BYTES))) throw new UploadError(`${upload.name}: not a supported image (its first bytes are not those of a JPEG, PNG, GIF, WebP, TIFF or AVIF file)`);
  return bytes;
}

/** Runs `use` with the upload written to a private temporary file, removed afterwards. */
export async function withUploadedFile<T>(dataDirectory: string, bytes: Uint8Array, use: (path: string) => Promise<T>): Promise<T> {
  const directory = join(dataDirectory, 'uploads');
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const path = join(directory, `${randomBytes(12).toString('hex')}.upload`);
  await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
  try {
    return await use(path);
  } finally {
    await rm(path, { force: true });
  }
}
