/**
 * Grid and map speed in real Chromium at N images (issue 14): the real `moco-studio serve` over a
 * synthetic finished run (fixture.ts), Debian's Chromium through playwright-core.
 *
 *   grid: the Neighbours view's grid of the run's N images is scrolled to the end at a fixed step
 *         per frame (the end in ~300 frames, a fast fling); medianFrameMs / p95FrameMs are the gaps
 *         between frames, reachedFraction how far it got within the time limit, lastImageMs the wait
 *         after the scroll until every image in view has loaded.
 *   map:  readyMs from opening the Map view to the points on screen (reply included); drawMs the
 *         main-thread cost of a full redraw; hoverMs of one mouse move (handler plus its frame);
 *         wheelMs of one wheel step (handler plus the redraw frame it schedules: zoom and pan);
 *         lassoMs from a lasso's mouse-up to the grid showing the selection (lassoSelected rows);
 *         umapMs from the UMAP switch to its points on screen (a bounded sample, in a Web Worker).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { prepareUiFixture } from './fixture.js';
import { fastScrollProbe, lastImageProbe, mapDrawProbe, mapHoverProbe, mapLassoProbe, mapWheelProbe } from './page-probes.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SCROLL_FRAMES = 300;
const SCROLL_LIMIT_MS = 75_000;
const GRID = '[data-testid="neighbours-grid"]';
const CANVAS = '[data-testid="map-canvas"]';
const OVERLAY = '[data-testid="map-overlay"]';

export interface UiScaleResult {
  grid: { medianFrameMs: number; p95FrameMs: number; lastImageMs: number; reachedFraction: number; scrollMs: number; firstImagesMs: number; imageRequests: number };
  map: { drawMs: number; hoverMs: number; wheelMs: number; lassoMs: number; lassoSelected: number; readyMs: number; replyBytes: number; umapMs: number; umapPoints: number };
}

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function ensureRendererBuilt(): void {
  const index = join(ROOT, 'dist', 'renderer', 'index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), newestMtime(join(ROOT, 'shared')));
  if (existsSync(index) && statSync(index).mtimeMs > sources) return;
  const result = spawnSync('npm', ['run', 'build:renderer'], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm run build:renderer failed:\n${result.stdout}\n${result.stderr}`);
}

async function startServer(home: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['main/cli/bin.js', 'serve', '--port', '0', '--no-open'], { cwd: ROOT, env: { ...process.env, MOCO_STUDIO_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => { output += chunk.toString(); };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve printed no URL in 60 s:\n${output}`)); }, 60_000);
    child.stdout.on('data', () => {
      const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[0]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${String(code)}:\n${output}`)); });
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
      child.kill('SIGTERM');
      const timer = setTimeout(() => { child.kill('SIGKILL'); }, 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

async function nav(page: Page, view: string): Promise<void> {
  await page.click(`[data-nav="${view}"]`);
  await page.waitForSelector(`[data-nav="${view}"][aria-current="page"]`);
}

async function measureGrid(page: Page, imageRequests: () => number): Promise<UiScaleResult['grid']> {
  const opened = performance.now();
  await nav(page, 'neighbours');
  await page.waitForSelector(`${GRID} .thumb img`, { timeout: 120_000 });
  await page.evaluate(lastImageProbe(GRID, 60_000));
  const firstImagesMs = performance.now() - opened;
  const before = imageRequests();
  const scroll = await page.evaluate<{ gaps: number[]; reachedFraction: number; scrollMs: number }>(fastScrollProbe(GRID, SCROLL_FRAMES, SCROLL_LIMIT_MS));
  const lastImageMs = await page.evaluate<number>(lastImageProbe(GRID, 120_000));
  return {
    medianFrameMs: round(percentile(scroll.gaps, 0.5)), p95FrameMs: round(percentile(scroll.gaps, 0.95)),
    lastImageMs: round(lastImageMs), reachedFraction: Math.round(scroll.reachedFraction * 1000) / 1000, scrollMs: Math.round(scroll.scrollMs),
    firstImagesMs: Math.round(firstImagesMs), imageRequests: imageRequests() - before,
  };
}

async function measureMap(page: Page, replyBytes: () => number): Promise<UiScaleResult['map']> {
  const opened = performance.now();
  await nav(page, 'map');
  await page.waitForSelector(`${CANVAS}[data-points]:not([data-points="0"])`, { timeout: 120_000 });
  const readyMs = performance.now() - opened;
  await page.waitForTimeout(300);
  const drawMs = await page.evaluate<number>(mapDrawProbe(CANVAS, 9));
  const hoverMs = await page.evaluate<number>(mapHoverProbe(CANVAS, 41));
  const wheelMs = await page.evaluate<number>(mapWheelProbe(OVERLAY, 10));
  await page.click('[data-testid="map-reset"]');
  const lasso = await page.evaluate<{ ms: number; selected: number }>(mapLassoProbe(OVERLAY, '[data-testid="map-grid-count"]', '[data-testid="clear-selection"]'));
  // UMAP of the bounded sample (stores/map.ts UMAP_MAX_ROWS), fitted in a Web Worker; -1 where the build has no UMAP switch.
  let umapMs = -1;
  let umapPoints = 0;
  if (await page.locator('[data-testid="projection-umap"]').count() > 0) {
    const started = performance.now();
    await page.click('[data-testid="projection-umap"]');
    // Polled inside one evaluate: a string predicate for waitForFunction needs eval, which the app's CSP refuses.
    await page.evaluate(`(async () => {
      const done = () => document.querySelector('.axis-label.x')?.textContent?.includes('UMAP') && !document.querySelector('[data-testid="projection-umap"]')?.disabled;
      const start = performance.now();
      while (!done()) {
        if (performance.now() - start > 300000) throw new Error('UMAP did not finish in 300 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    })()`);
    umapMs = performance.now() - started;
    umapPoints = Number(await page.getAttribute(CANVAS, 'data-points'));
  }
  return { drawMs: round(drawMs), hoverMs: round(hoverMs), wheelMs: round(wheelMs), lassoMs: round(lasso.ms), lassoSelected: lasso.selected, readyMs: Math.round(readyMs), replyBytes: replyBytes(), umapMs: Math.round(umapMs), umapPoints };
}

/** Runs the whole measurement at `images` images; `workDir` keeps the generated folder and run for reuse. */
export async function measureUiScale(opts: { images: number; workDir: string; log?: (line: string) => void }): Promise<UiScaleResult> {
  const log = opts.log ?? ((line: string) => { process.stderr.write(`${line}\n`); });
  mkdirSync(opts.workDir, { recursive: true });
  let started = performance.now();
  const fixture = await prepareUiFixture(opts.workDir, opts.images);
  log(`bench:ui: fixture of ${opts.images} images ready in ${Math.round(performance.now() - started)} ms`);
  ensureRendererBuilt();
  const server = await startServer(fixture.home);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    let requests = 0;
    page.on('request', (request) => { if (/\/(images|thumbs)\//.test(request.url())) requests++; });
    let bytes = 0;
    page.on('websocket', (socket) => {
      socket.on('framereceived', (frame) => { if (frame.payload.length > 100_000) bytes += frame.payload.length; });
    });
    started = performance.now();
    await page.goto(server.url);
    await page.waitForSelector('[data-nav="neighbours"]');
    log(`bench:ui: page loaded in ${Math.round(performance.now() - started)} ms`);
    const grid = await measureGrid(page, () => requests);
    log(`bench:ui: grid ${JSON.stringify(grid)}`);
    const map = await measureMap(page, () => bytes);
    log(`bench:ui: map ${JSON.stringify(map)}`);
    return { grid, map };
  } finally {
    await browser.close();
    await server.stop();
  }
}
