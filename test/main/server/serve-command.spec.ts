/** `moco-studio serve` as a user runs it: a real process, the printed URL, Ctrl-C. */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../main/cli/bin.js');

describe('moco-studio serve', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'moco-serve-'));
    await mkdir(join(home, 'renderer'));
    await writeFile(join(home, 'renderer', 'index.html'), '<!doctype html><title>MoCo Studio</title>');
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('says to build the renderer first when it is missing', async () => {
    const failure = await promisify(execFile)(process.execPath, [BIN, 'serve', '--no-open'], { env: { ...process.env, MOCO_STUDIO_HOME: home, MOCO_STUDIO_RENDERER: join(home, 'nothing') } }).then(() => null, (error: unknown) => error as { code: number; stderr: string });
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/run npm run build:renderer first/);
  });

  it('prints a loopback URL with a token, serves the page, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--no-open'], { env: { ...process.env, MOCO_STUDIO_HOME: home, MOCO_STUDIO_RENDERER: join(home, 'renderer') }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => { child.on('exit', (code) => { resolve(code); }); });
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}/.exec(stdout);
        if (match) resolve(match[0]);
      });
      void exited.then(() => { reject(new Error(`serve exited early: ${stdout}`)); });
    });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('MoCo Studio');
    const info = await fetch(url.replace('/?token=', '/images/x/y.png?token=bad'));
    expect(info.status).toBe(401);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
