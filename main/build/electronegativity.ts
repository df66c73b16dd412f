/**
 * Security scan of the Electron sources with electronegativity (offline: it reports "No
 * connectivity?" and still scans). Fails on any HIGH-severity finding; prints the rest.
 *   npm run check:electron
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ELECTRON_VERSION = '41.10.0';

async function main(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'electronegativity-'));
  const report = join(directory, 'report.csv');
  try {
    const bin = join('node_modules', '.bin', 'electronegativity');
    await promisify(execFile)(bin, ['-i', 'main', '-e', ELECTRON_VERSION, '-o', report], { timeout: 300_000, maxBuffer: 1 << 24 });
    const rows = (await readFile(report, 'utf8')).trim().split('\n').slice(1);
    const high = rows.filter((row) => row.split(',')[1] === '"HIGH"');
    for (const row of rows) process.stdout.write(`${row}\n`);
    process.stdout.write(`electronegativity: ${rows.length} finding(s), ${high.length} of high severity\n`);
    if (high.length > 0) process.exitCode = 1;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`electronegativity failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
