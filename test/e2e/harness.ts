/**
 * End-to-end harness: bundles the renderer when dist/renderer is missing or older than its
 * sources, starts the real `moco-studio serve` (real core, real trainer) with a temporary
 * MOCO_STUDIO_HOME, and launches Debian's Chromium through playwright-core.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'e2e');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const chromiumAvailable = existsSync(CHROMIUM);

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * Runs `vite build` unless dist/renderer is newer than renderer/ and shared/. Only the bundle:
 * build:renderer's vue-tsc type check is `npm test`'s typecheck:renderer step, before vitest, and
 * took 18 of build:renderer's 25 s here (2 cores, load 8.7), which the first e2e file paid again.
 */
export function ensureRendererBuilt(): void {
  const index = join(ROOT, 'dist', 'renderer', 'index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), newestMtime(join(ROOT, 'shared')), newestMtime(join(ROOT, 'vite.config.ts')));
  if (existsSync(index) && statSync(index).mtimeMs > sources) return;
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
}

export interface StudioServer {
  readonly url: string;
  readonly origin: string;
  readonly token: string;
  readonly home: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node main/cli/bin.js serve --port 0 --no-open` and waits for the printed URL. */
export async function startStudioServer(): Promise<StudioServer> {
  const home = mkdtempSync(join(tmpdir(), 'moco-e2e-home-'));
  const child: ChildProcess = spawn(process.execPath, ['main/cli/bin.js', 'serve', '--port', '0', '--no-open'], {
    cwd: ROOT,
    env: { ...process.env, MOCO_STUDIO_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve printed no URL in 60 s:\n${output}`)); }, 60_000);
    const check = (): void => {
      const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[0]); }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${String(code)}:\n${output}`)); });
  });
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    token: parsed.searchParams.get('token') ?? '',
    home,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
        child.kill('SIGTERM');
        const timer = setTimeout(() => { child.kill('SIGKILL'); }, 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(colorScheme: 'light' | 'dark' = 'light'): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'moco-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1440, height: 900 },
    colorScheme,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
