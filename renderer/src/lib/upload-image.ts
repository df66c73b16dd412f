/**
 * An image file from this computer as base64 for neighbours:query's `upload` (issue 12 item 7):
 * as it is when it fits `maxBytes`, else redrawn in a canvas at most 1024 px on its longer side
 * (then 512, 256) as PNG, or JPEG when PNG is still too large. The server decodes whatever
 * arrives with its own safe decoder; this only keeps the message under the socket's frame limit.
 */
async function toBase64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function canvasBlob(canvas: HTMLCanvasElement, type: string, quality?: number): Promise<Blob | null> {
  return new Promise((resolve) => { canvas.toBlob(resolve, type, quality); });
}

export async function uploadableImage(file: File, maxBytes: number): Promise<string> {
  if (file.size === 0) throw new Error(`${file.name} is empty`);
  if (file.size <= maxBytes) return toBase64(file);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name} is ${Math.round(file.size / 1024)} KB and this browser cannot read it to shrink it (at most ${Math.round(maxBytes / 1024)} KB can be sent as it is)`);
  }
  try {
    for (const side of [1024, 512, 256]) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      for (const [type, quality] of [['image/png', undefined], ['image/jpeg', 0.92]] as const) {
        const blob = await canvasBlob(canvas, type, quality);
        if (blob && blob.size <= maxBytes) return await toBase64(blob);
      }
    }
  } finally {
    bitmap.close();
  }
  throw new Error(`${file.name} could not be shrunk below ${Math.round(maxBytes / 1024)} KB`);
}
