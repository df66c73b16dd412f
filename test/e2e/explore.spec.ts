/**
 * Exploring in Chromium (issue 12 items 3, 4, 7; issue 10): Neighbours during a run from its
 * newest checkpoint (the random start first), an image uploaded from "this computer" (bytes over
 * the socket), the k control, searching again from a clicked neighbour, the Trained / Random init /
 * Pixels switch, and an export downloaded by the browser. The real server, trainer and renderer
 * (test/e2e/harness.ts); screenshots in test-artifacts/e2e/explore-*.png.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, chromiumAvailable, ensureRendererBuilt, launchBrowser, startStudioServer, type StudioServer } from './harness.js';

// Long enough to explore while it trains (it is stopped by the test), tiny enough to be quick per step.
const LONG_TINY_SETTINGS: Record<string, string> = { epochs: '200', imageSize: '16', widthMultiplier: '0.0625', batchSize: '16', previewEvery: '50' };

describe.skipIf(!chromiumAvailable)('Exploring a run in Chromium: during training, uploads, k, click-to-search, downloads', () => {
  let server: StudioServer | undefined;
  let browser: { context: BrowserContext; close(): Promise<void> } | undefined;
  let page: Page;

  beforeAll(async () => {
    ensureRendererBuilt();
    server = await startStudioServer();
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    await page.goto(server.url);
    await page.waitForSelector('[data-connection="open"]');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const count = (testid: string): Promise<number> => page.getAttribute(`[data-testid="${testid}"]`, 'data-count').then(Number);
  const nav = async (view: string): Promise<void> => {
    await page.click(`[data-nav="${view}"]`);
    await page.waitForSelector(`[data-nav="${view}"][aria-current="page"]`);
  };

  it('explores a run while it trains: the newest checkpoint answers, labelled as such', async () => {
    await page.click('[data-testid="welcome-sample"]');
    await page.waitForSelector('[data-testid="images-found"]');
    await page.click('[data-testid="advanced-settings"] summary');
    for (const [field, value] of Object.entries(LONG_TINY_SETTINGS)) await page.fill(`[data-setting="${field}"]`, value);
    await page.click('[data-testid="start-training"]');
    await page.waitForSelector('[data-testid="run-state"][data-state="training"]', { timeout: 120_000 });
    await nav('neighbours');
    await page.waitForSelector('[data-testid="neighbours-grid"] .thumb', { timeout: 120_000 });
    await page.click('[data-testid="neighbours-grid"] .thumb[data-row="3"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 12, null, { timeout: 120_000 });
    expect(await page.textContent('[data-testid="neighbour-source"]')).toMatch(/Newest checkpoint \(step \d+\): the run is still training/);
    await page.screenshot({ path: artifactPath('explore-during-training.png'), fullPage: true });
    // Paused, the run stays active and its newest checkpoint stays put: the searches below reuse its embeddings
    // instead of embedding the folder again for every epoch's checkpoint on 2 loaded cores.
    await nav('training');
    await page.click('button:has-text("Pause")');
    await page.waitForSelector('[data-testid="run-state"][data-state="paused"]', { timeout: 120_000 });
    await nav('neighbours');
    await page.waitForSelector('[data-testid="neighbours-grid"] .thumb', { timeout: 120_000 });
    await page.click('[data-testid="neighbours-grid"] .thumb[data-row="3"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 12, null, { timeout: 120_000 });
    // The Map of a training run is its newest checkpoint too, labelled as such (issue 12 item 3).
    await nav('map');
    await page.waitForSelector('[data-testid="map-source"]', { timeout: 120_000 });
    expect(await page.textContent('[data-testid="map-source"]')).toMatch(/Newest checkpoint \(step \d+\): the run is still training/);
    await page.screenshot({ path: artifactPath('explore-map-during-training.png'), fullPage: true });
    // Back where the next tests start: Neighbours, with a query shown.
    await nav('neighbours');
    await page.waitForSelector('[data-testid="neighbours-grid"] .thumb', { timeout: 120_000 });
    await page.click('[data-testid="neighbours-grid"] .thumb[data-row="3"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 12, null, { timeout: 120_000 });
  }, 300_000);

  it('k control, click a neighbour to search from it, bars scaled to the shown range', async () => {
    await page.fill('[data-testid="neighbour-k"]', '5');
    await page.dispatchEvent('[data-testid="neighbour-k"]', 'change');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 5, null, { timeout: 120_000 });
    const widths = await page.locator('[data-testid="neighbour-results"] .sim-bar div').evaluateAll((bars) => bars.map((b) => parseFloat((b as HTMLElement).style.width)));
    expect(Math.max(...widths)).toBeCloseTo(100, 5); // the most similar shown fills the bar
    expect(Math.min(...widths)).toBeCloseTo(8, 5); // the least similar shown is short, whatever its cosine
    const before = await page.textContent('[data-testid="query-item"] code');
    const shown = await page.locator('[data-testid="neighbour-results"] li img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('alt')));
    await page.click('[data-testid="neighbour-results"] li:nth-child(2) .neighbour-pick');
    // The query becomes one of the neighbours that were shown (the list may have been re-rendered meanwhile).
    await page.waitForFunction((old) => (document.querySelector('[data-testid="query-item"] code')?.textContent ?? old) !== old, before, { timeout: 120_000 });
    expect(shown).toContain(await page.textContent('[data-testid="query-item"] code'));
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 5, null, { timeout: 120_000 });
    await page.screenshot({ path: artifactPath('explore-k-and-click.png'), fullPage: true });
  }, 300_000);

  it('searches with an uploaded image (its bytes, not a path) and shows it as the query', async () => {
    const sample = join(server!.home, 'sample');
    const classDir = readdirSync(sample).find((name) => statSync(join(sample, name)).isDirectory())!;
    const file = readdirSync(join(sample, classDir))[0]!;
    await page.setInputFiles('[data-testid="outside-file"]', { name: 'from-my-laptop.png', mimeType: 'image/png', buffer: readFileSync(join(sample, classDir, file)) });
    await page.waitForSelector('[data-testid="upload-preview"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="query-item"] code')?.textContent === 'from-my-laptop.png', null, { timeout: 120_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 5, null, { timeout: 120_000 });
    expect(await page.getAttribute('[data-testid="upload-preview"]', 'src')).toMatch(/^blob:/);
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.neighbour-list img, [data-testid="upload-preview"]')].every((img) => img.complete && img.naturalWidth > 0));
    await page.screenshot({ path: artifactPath('explore-upload.png'), fullPage: true });
    // A file that is not an image is refused with its name and the reason.
    await page.setInputFiles('[data-testid="outside-file"]', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('just some text, not a PNG') });
    await page.waitForFunction(() => /notes\.png: not a supported image/.test(document.body.textContent), null, { timeout: 30_000 });
  }, 300_000);

  it('switches the same query to the random start and to pixels, then stops the run and downloads its ONNX export', async () => {
    await page.click('[data-testid="neighbours-grid"] .thumb[data-row="3"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="query-item"] code')?.textContent === 'checkerboard/checkerboard-003.png', null, { timeout: 120_000 });
    await page.click('[data-testid="space-switch"] [data-space="random-init"]');
    await page.waitForFunction(() => /Random initialisation \(step 0\)/.test(document.querySelector('[data-testid="neighbour-source"]')?.textContent ?? ''), null, { timeout: 120_000 });
    expect(await count('neighbour-results')).toBe(5);
    await page.screenshot({ path: artifactPath('explore-random-init.png'), fullPage: true });
    // The same query as raw standardised pixels at the training size (16 px here): the baseline (issue 10 item 3).
    const randomInit = await page.locator('[data-testid="neighbour-results"] li img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('alt')));
    await page.click('[data-testid="space-switch"] [data-space="pixels"]');
    await page.waitForFunction(() => /Raw pixels at 16 px, standardised/.test(document.querySelector('[data-testid="neighbour-source"]')?.textContent ?? ''), null, { timeout: 120_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 5, null, { timeout: 120_000 });
    expect(await page.getAttribute('[data-testid="space-switch"] [data-space="pixels"]', 'aria-pressed')).toBe('true');
    expect(await page.textContent('[data-testid="query-item"] code')).toBe('checkerboard/checkerboard-003.png');
    const pixelNeighbours = await page.locator('[data-testid="neighbour-results"] li img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('alt')));
    expect(pixelNeighbours).toHaveLength(5);
    expect(pixelNeighbours).not.toContain('checkerboard/checkerboard-003.png'); // a row is not its own neighbour
    expect(pixelNeighbours).not.toEqual(randomInit); // another space answered
    // An uploaded image is searched in the same pixel space (the folder's statistics, stored beside the pixel matrix).
    const sample = join(server!.home, 'sample');
    await page.setInputFiles('[data-testid="outside-file"]', { name: 'pixels-query.png', mimeType: 'image/png', buffer: readFileSync(join(sample, 'checkerboard', 'checkerboard-003.png')) });
    await page.waitForFunction(() => document.querySelector('[data-testid="query-item"] code')?.textContent === 'pixels-query.png', null, { timeout: 120_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="neighbour-results"]')?.getAttribute('data-count')) === 5, null, { timeout: 120_000 });
    // The same image as a file: its nearest pixel neighbour is itself, at cosine ~1.
    expect(await page.locator('[data-testid="neighbour-results"] li img').first().getAttribute('alt')).toBe('checkerboard/checkerboard-003.png');
    expect(Number(await page.locator('[data-testid="neighbour-results"] [data-testid="similarity"]').first().textContent())).toBeGreaterThan(0.99);
    await page.screenshot({ path: artifactPath('explore-pixels.png'), fullPage: true });

    await nav('training');
    await page.click('button.danger:has-text("Stop")');
    await page.waitForFunction(() => ['stopped', 'finished'].includes(document.querySelector('[data-testid="run-state"]')?.getAttribute('data-state') ?? ''), null, { timeout: 120_000 });
    await nav('runs');
    const link = page.locator('[data-testid="export-links"] a[data-format="onnx"]').first();
    expect(await link.getAttribute('href')).toMatch(/^\/exports\/[^/]+\/onnx\?token=/);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), link.click()]);
    expect(download.suggestedFilename()).toMatch(/-encoder\.onnx$/);
    const saved = await download.path();
    const bytes = readFileSync(saved);
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(bytes[0]).toBe(0x08); // ModelProto field 1 (ir_version), a varint
    await page.screenshot({ path: artifactPath('explore-downloads.png'), fullPage: true });
  }, 240_000);
});
