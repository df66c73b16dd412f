/**
 * `npm run bench:ui [-- --points 100000] [--work-dir DIR]`: grid and map speed in real Chromium
 * (measure.ts). Prints one JSON document on stdout, progress on stderr. The generated folder and
 * run are kept in the work directory (default: <os tmpdir>/moco-bench-ui) and reused next time.
 */
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureUiScale } from './measure.js';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const points = Number(option('points') ?? 100_000);
if (!Number.isInteger(points) || points < 2) throw new Error(`--points needs an integer of at least 2 (got ${option('points') ?? ''})`);
const workDir = option('work-dir') ?? join(tmpdir(), 'moco-bench-ui');
const loadBefore = loadavg()[0];
const result = await measureUiScale({ images: points, workDir });
process.stdout.write(`${JSON.stringify({ images: points, ...result, load: { before: loadBefore, after: loadavg()[0] } }, null, 2)}\n`);
