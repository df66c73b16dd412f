/**
 * `npm start`: the desktop app where Electron is installed; elsewhere (Electron's binary download
 * skipped or blocked, a server without a display) the same app in the browser through the
 * headless server. Builds what is missing first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

function newestMtime(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function run(script: string): void {
  const result = spawnSync('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run ${script} failed`);
}

function electronBinary(): string | null {
  try {
    // The electron package exports the binary's path, and throws when the binary is missing.
    const path = createRequire(import.meta.url)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

function main(): void {
  const index = join(root, 'dist', 'renderer', 'index.html');
  if (!existsSync(index) || newestMtime(join(root, 'renderer')) > statSync(index).mtimeMs) run('build:renderer');
  const electron = electronBinary();
  if (electron) {
    run('build:electron');
    const child = spawn(electron, [join(root, 'dist', 'electron', 'main.js')], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) => { process.exitCode = code ?? 0; });
    return;
  }
  process.stderr.write('Electron is not installed here (its binary download was skipped or blocked), so MoCo Studio opens in your browser instead.\n');
  const child = spawn(process.execPath, [join(root, 'main', 'cli', 'bin.js'), 'serve'], { cwd: root, stdio: 'inherit' });
  process.on('SIGINT', () => undefined); // the server handles Ctrl-C (checkpoint first) and exits
  child.on('exit', (code) => { process.exitCode = code ?? 0; });
}

main();
