/**
 * Renders the app icon (two overlapping rounded squares: a query and its key) from an inline SVG
 * into main/build-resources/icon.png (512x512), which electron-builder turns into .ico/.icns.
 *   npx tsx main/build/icon.ts
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#1e2a44"/><stop offset="1" stop-color="#0f1626"/>
    </linearGradient>
  </defs>
  <rect x="16" y="16" width="480" height="480" rx="104" fill="url(#bg)"/>
  <rect x="96" y="96" width="210" height="210" rx="44" fill="#4f8cff" fill-opacity="0.9"/>
  <rect x="206" y="206" width="210" height="210" rx="44" fill="#ff9f43" fill-opacity="0.85"/>
  <rect x="206" y="206" width="100" height="100" rx="20" fill="#ffffff" fill-opacity="0.9"/>
</svg>`;

export async function renderIcon(outFile: string): Promise<void> {
  await mkdir(dirname(outFile), { recursive: true });
  await sharp(Buffer.from(SVG)).resize(512, 512).png().toFile(outFile);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'build-resources', 'icon.png');
  renderIcon(out).then(() => { process.stdout.write(`wrote ${out}\n`); }, (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  });
}
