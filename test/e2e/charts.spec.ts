/**
 * The Training view's charts (issue 12 item 5) in Chromium against the real `moco-studio serve`:
 * the smoothing slider (TensorBoard's debiased EMA), the queue-filling phase shaded, and drag to
 * zoom, where a box zooms y as well as x. The run is a finished run written straight into the
 * server's data directory (main/bench/ui/fixture.ts, plus a metrics.jsonl of known values), so no
 * training is needed; the charts get it through the real server and contract (runs:open).
 * Screenshots: test-artifacts/e2e/charts-*.png.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticRun } from '../../main/bench/ui/fixture.js';
import { runsDirectory } from '../../main/core/data-directory.js';
import { updateRunRecord } from '../../main/core/run-store.js';
import { resolveSettings } from '../../shared/training-settings.js';
import { artifactPath, chromiumAvailable, ensureRendererBuilt, launchBrowser, startStudioServer, type StudioServer } from './harness.js';

const STEPS = 40;
/** The queue holds fewer than K real keys up to this step. */
const QUEUE_FULL_AT = 8;
/** A falling loss with a zigzag of +-0.4 on top: smoothing has something to smooth. */
const lossAt = (step: number): number => 6 - 0.05 * step + (step % 2 === 0 ? 0.4 : -0.4);
const LOSS = '[data-testid="loss-chart"]';

/** TensorBoard's smoothing, written out again here: m = w m + (1 - w) y, shown m / (1 - w^i). */
function debiasedEma(values: readonly number[], weight: number): number {
  let moving = 0;
  values.forEach((y) => { moving = weight * moving + (1 - weight) * y; });
  return moving / (1 - weight ** values.length);
}

describe.skipIf(!chromiumAvailable)('the Training view charts in Chromium (issue 12 item 5)', () => {
  let server: StudioServer | undefined;
  let browser: { context: BrowserContext; close(): Promise<void> } | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ensureRendererBuilt();
    server = await startStudioServer();
    const { runId } = await writeSyntheticRun(server.home, join(server.home, 'images'), 40);
    const directory = join(runsDirectory(server.home), runId);
    const { settings } = resolveSettings({ epochs: 2, batchSize: 20, imageSize: 16 }, 40, 'wasm', 2);
    await updateRunRecord(directory, { settings, stepsPerEpoch: STEPS / 2 });
    const rows = Array.from({ length: STEPS }, (_, i) => {
      const step = i + 1;
      return { epoch: step <= STEPS / 2 ? 0 : 1, step, time: 1_700_000_000_000 + step * 1000, loss: lossAt(step), top1: Math.min(0.9, step / 50), top5: Math.min(1, step / 30), positiveLogit: 0.5, negativeLogit: 0.1, embeddingStd: 0.05, queueFill: Math.min(1, step / QUEUE_FULL_AT), learningRate: 0.06 };
    });
    writeFileSync(join(directory, 'metrics.jsonl'), rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    page.on('pageerror', (error) => { pageErrors.push(error.message); });
    await page.goto(server.url);
    await page.waitForSelector('[data-connection="open"]');
    await page.click('[data-nav="runs"]');
    await page.click('[data-testid="runs-table"] button:has-text("Open")');
    await page.waitForSelector('[data-nav="training"][aria-current="page"]');
    await page.waitForFunction((s) => Number(document.querySelector(s)?.getAttribute('data-points')) === 40, LOSS, { timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const attribute = (name: string): Promise<string | null> => page.getAttribute(LOSS, name);
  const drawnLast = async (): Promise<number> => Number(await attribute('data-drawn-last'));
  const yRange = async (): Promise<[number, number]> => {
    const [min, max] = ((await attribute('data-y-range')) ?? '').split('..').map(Number);
    return [min!, max!];
  };
  /** Drags on the loss chart from (fx0, fy0) to (fx1, fy1), fractions of its box. */
  async function drag(fx0: number, fy0: number, fx1: number, fy1: number): Promise<void> {
    const box = (await page.locator(LOSS).boundingBox())!;
    await page.mouse.move(box.x + box.width * fx0, box.y + box.height * fy0);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * fx1, box.y + box.height * fy1, { steps: 5 });
    await page.mouse.up();
  }

  it('smooths the loss with the slider as TensorBoard does, and 0 draws the raw values', async () => {
    const losses = Array.from({ length: STEPS }, (_, i) => lossAt(i + 1));
    // The default weight, 0.6.
    expect(await drawnLast()).toBeCloseTo(debiasedEma(losses, 0.6), 9);
    const changed = (before: string | null): Promise<unknown> => page.waitForFunction(([s, b]) => document.querySelector(s!)?.getAttribute('data-drawn-last') !== b, [LOSS, before] as const);
    let before = await attribute('data-drawn-last');
    await page.fill('[data-testid="smoothing"]', '0');
    await changed(before);
    expect(await drawnLast()).toBe(losses[STEPS - 1]);
    before = await attribute('data-drawn-last');
    await page.fill('[data-testid="smoothing"]', '0.95');
    await changed(before);
    expect(await drawnLast()).toBeCloseTo(debiasedEma(losses, 0.95), 9);
    expect(await page.textContent('.chart-controls')).toContain('0.95');
    await page.screenshot({ path: artifactPath('charts-smoothing.png'), fullPage: true });
  });

  it('shades the steps while the queue still held random keys, on the loss and accuracy charts, and explains the reference lines', async () => {
    // queueFill < 1 at steps 1..7: the shaded range ends at the last of them.
    expect(await attribute('data-shaded')).toBe(`1..${QUEUE_FULL_AT - 1}`);
    expect(await page.getAttribute('[data-testid="accuracy-chart"]', 'data-shaded')).toBe(`1..${QUEUE_FULL_AT - 1}`);
    expect(await page.textContent('[data-testid="accuracy-chart"] >> xpath=ancestor::figure')).toContain('Shaded: steps while the queue still held random keys');
    // Each reference line explained in one line (the embedding-std line carried no word on its meaning).
    expect(await page.textContent('[data-testid="std-chart"] >> xpath=ancestor::figure')).toMatch(/Dashed: 1\/√dim, what uniformly spread embeddings give; near 0 means collapse/);
    expect(await page.textContent('[data-testid="loss-chart"] >> xpath=ancestor::figure')).toMatch(/Dashed: chance, log\(K\+1\)/);
  });

  it('zooms y as well as x to a dragged box, x only to a flat drag, and double-click resets both', async () => {
    const [fullMin, fullMax] = await yRange();
    expect(fullMin).toBe(0);
    await drag(0.35, 0.15, 0.75, 0.45);
    expect(await attribute('data-zoomed')).toBe('yes');
    expect(await attribute('data-zoomed-y')).toBe('yes');
    const [boxMin, boxMax] = await yRange();
    expect(boxMin).toBeGreaterThan(fullMin);
    expect(boxMax).toBeLessThan(fullMax);
    await page.screenshot({ path: artifactPath('charts-box-zoom.png'), fullPage: true });
    await page.dblclick(LOSS);
    expect(await attribute('data-zoomed')).toBe('no');
    expect(await attribute('data-zoomed-y')).toBe('no');
    expect(await yRange()).toEqual([fullMin, fullMax]);
    // A flat drag: x only, y keeps its floor at 0.
    await drag(0.3, 0.5, 0.6, 0.5);
    expect(await attribute('data-zoomed')).toBe('yes');
    expect(await attribute('data-zoomed-y')).toBe('no');
    expect((await yRange())[0]).toBe(0);
    await page.dblclick(LOSS);
    expect(pageErrors).toEqual([]);
  });
});
