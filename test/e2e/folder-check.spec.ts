/**
 * Issue 12 item 1 in real Chromium against `moco-studio serve`: the folder check reads headers.
 * Three text files named .jpg plus one PNG must show "1 image, 3 skipped", Start disabled with the
 * reason, and a dataset report that lists each skipped file with its reason; sizes come from the
 * headers too (1x1 spacer GIFs are skipped before Start, as the trainer would). A folder without
 * classes trains and shows the label-free progress signal (issue 10). Screenshots land in
 * test-artifacts/e2e/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { encodeRgbPng } from '../../main/core/images/write-png.js';
import { artifactPath, chromiumAvailable, ensureRendererBuilt, launchBrowser, startStudioServer, type StudioServer } from './harness.js';

describe.skipIf(!chromiumAvailable)('the folder check in Chromium (issue 12 item 1)', () => {
  let server: StudioServer | undefined;
  let browser: { context: BrowserContext; close(): Promise<void> } | undefined;
  let page: Page;
  let folder: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'moco-e2e-text-jpegs-'));
    for (const name of ['a.jpg', 'b.jpg', 'c.jpg']) writeFileSync(join(folder, name), 'These are notes, not a JPEG.\n');
    writeFileSync(join(folder, 'd.png'), await encodeRgbPng({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(120) }));
    ensureRendererBuilt();
    server = await startStudioServer();
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    page.on('pageerror', (error) => { pageErrors.push(error.message); });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('three text files named .jpg and one PNG: 1 image, 3 skipped, Start disabled with the reason', async () => {
    await page.goto(server!.url);
    await page.waitForSelector('[data-connection="open"]');
    await page.fill('#folder-path', folder);
    await page.press('#folder-path', 'Enter');
    await page.waitForSelector('[data-testid="images-found"]');
    expect(await page.textContent('[data-testid="images-found"]')).toBe('1');
    expect(await page.textContent('.stats-row')).toMatch(/1\s*image\s*3\s*skipped/);
    expect(await page.isDisabled('[data-testid="start-training"]')).toBe(true);
    expect(await page.textContent('[data-testid="start-disabled-reason"]')).toMatch(/1 usable image; MoCo needs at least 2/);
    await page.screenshot({ path: artifactPath('folder-check-text-jpegs.png'), fullPage: true });
  }, 60_000);

  it('sizes are read from the headers too: three 1x1 spacer GIFs and one PNG are 1 image, the one-image reason said once', async () => {
    const spacers = mkdtempSync(join(tmpdir(), 'moco-e2e-spacers-'));
    try {
      // A GIF of 1x1 (the web's spacer): its signature is an image's, its size is not one MoCo can crop.
      const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
      for (const name of ['s1.gif', 's2.gif', 's3.gif']) writeFileSync(join(spacers, name), gif);
      writeFileSync(join(spacers, 'photo.png'), await encodeRgbPng({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) }));
      await page.fill('#folder-path', spacers);
      await page.press('#folder-path', 'Enter');
      // The previous folder also showed "1 image, 3 skipped": wait for this folder's own summary.
      await page.waitForFunction((path) => { const text = document.querySelector('.stats-row')?.textContent ?? ''; return text.includes(path) && /3\s*skipped/.test(text); }, spacers, { timeout: 30_000 });
      expect(await page.textContent('[data-testid="images-found"]')).toBe('1');
      expect(await page.isDisabled('[data-testid="start-training"]')).toBe(true);
      const reason = (await page.textContent('[data-testid="start-disabled-reason"]'))!.trim();
      expect(reason).toMatch(/1 usable image; MoCo needs at least 2/);
      expect(await page.evaluate((text) => document.body.innerText.split(text).length - 1, reason)).toBe(1);
      expect(await page.locator('[data-testid="banner"]').count()).toBe(0);
      await page.click('[data-testid="folder-dataset-report"]');
      await page.waitForSelector('[data-testid="dataset-report-files"] li', { timeout: 30_000 });
      const files = await page.locator('[data-testid="dataset-report-files"] li').allTextContents();
      expect(files).toHaveLength(3);
      for (const line of files) expect(line).toContain('too small: 1x1 pixels (the shorter side must be at least 8 px)');
      await page.screenshot({ path: artifactPath('folder-check-spacer-gifs.png'), fullPage: true });
      await page.click('[data-testid="dataset-report-close"]');
    } finally {
      rmSync(spacers, { recursive: true, force: true });
    }
    // Back to the text files for the report test below.
    await page.fill('#folder-path', folder);
    await page.press('#folder-path', 'Enter');
    await page.waitForFunction((path) => { const text = document.querySelector('.stats-row')?.textContent ?? ''; return text.includes(path) && /1\s*image\s*3\s*skipped/.test(text); }, folder, { timeout: 30_000 });
  }, 60_000);

  it('opens the dataset report from the Folder view: every skipped file with its reason', async () => {
    await page.click('[data-testid="folder-dataset-report"]');
    await page.waitForSelector('[data-testid="dataset-report"][open]');
    const files = await page.locator('[data-testid="dataset-report-files"] li').allTextContents();
    expect(files).toHaveLength(3);
    for (const [i, name] of ['a.jpg', 'b.jpg', 'c.jpg'].entries()) {
      expect(files[i]).toContain(name);
      expect(files[i]).toMatch(/not a supported image \(unrecognised contents\)/);
    }
    expect(await page.textContent('[data-testid="dataset-report"]')).toContain('1 image usable, 3 files skipped');
    await page.screenshot({ path: artifactPath('folder-dataset-report.png') });
    await page.click('[data-testid="dataset-report-close"]');
    await page.waitForSelector('[data-testid="dataset-report"]', { state: 'detached' });
    expect(pageErrors).toEqual([]);
  }, 30_000);

  it('a folder without classes trains and shows the label-free signal per epoch, explained in one line (issue 10)', async () => {
    const flat = mkdtempSync(join(tmpdir(), 'moco-e2e-no-classes-'));
    try {
      // 64 images straight in the folder (no class subfolders): stripes of 8 periods x 8 colours.
      for (let i = 0; i < 64; i++) {
        const size = 24;
        const period = 2 + (i % 8);
        const data = new Uint8Array(size * size * 3);
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const on = Math.floor((x + (i >> 3) * y) / period) % 2 === 0;
            data.set(on ? [(i * 37) % 256, (i * 91) % 256, (i * 53) % 256] : [20, 20, 20], (y * size + x) * 3);
          }
        }
        writeFileSync(join(flat, `image-${String(i).padStart(2, '0')}.png`), await encodeRgbPng({ width: size, height: size, data }));
      }
      await page.fill('#folder-path', flat);
      await page.press('#folder-path', 'Enter');
      await page.waitForFunction(() => document.querySelector('[data-testid="images-found"]')?.textContent === '64', null, { timeout: 30_000 });
      await page.click('[data-testid="advanced-settings"] summary');
      const settings: Record<string, string> = { epochs: '2', imageSize: '16', widthMultiplier: '0.0625', batchSize: '16', previewEvery: '50' };
      for (const [field, value] of Object.entries(settings)) await page.fill(`[data-setting="${field}"]`, value);
      await page.click('[data-testid="start-training"]');
      await page.waitForFunction(() => document.querySelector('[data-testid="run-state"]')?.getAttribute('data-state') === 'finished', null, { timeout: 180_000 });
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="signal-row"]').length === 2, null, { timeout: 10_000 });
      const card = (await page.textContent('[data-testid="unsupervised-signal"]')) ?? '';
      expect(card).toContain('No classes here, so no accuracy');
      expect(card).toMatch(/Uniformity .*lower is more spread out/);
      expect(card).toMatch(/Neighbour agreement is the share of each image's 10 nearest neighbours/);
      const cells = await page.locator('[data-testid="signal-row"]').nth(1).locator('td').allTextContents();
      expect(cells[0]).toBe('2');
      expect(Number(cells[1])).toBeLessThan(0); // uniformity: log of a mean of exp(-2 d^2), negative unless collapsed
      expect(cells[2]).toMatch(/^\d+(\.\d)? %$/); // the second epoch has a previous one to agree with
      expect(cells[3]).toBe('64');
      expect(await page.locator('[data-testid="knn-chart"]').count()).toBe(0); // no classes: no kNN accuracy
      await page.screenshot({ path: artifactPath('folder-no-classes-signal.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      rmSync(flat, { recursive: true, force: true });
    }
  }, 240_000);

  it('messages (issue 12 item 8): an empty folder says why once; edits do not carry over silently; banners stay in their view', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'moco-e2e-empty-'));
    try {
      await page.click('[data-nav="folder"]');
      // The previous test edited 5 settings for the flat folder; another folder resets them and says so.
      await page.fill('#folder-path', empty);
      await page.press('#folder-path', 'Enter');
      await page.waitForFunction(() => document.querySelector('[data-testid="images-found"]')?.textContent === '0', null, { timeout: 30_000 });
      expect(await page.textContent('[data-testid="edits-cleared"]')).toMatch(/Your 5 edited settings were reset for this folder/);
      expect(await page.isDisabled('[data-testid="start-training"]')).toBe(true);
      const reason = (await page.textContent('[data-testid="start-disabled-reason"]'))!.trim();
      expect(reason).toMatch(/0 usable images?/);
      // Said once: not again in a banner or a notice.
      const occurrences = await page.evaluate((text) => document.body.innerText.split(text).length - 1, reason);
      expect(occurrences).toBe(1);
      expect(await page.locator('[data-testid="banner"]').count()).toBe(0);
      await page.screenshot({ path: artifactPath('folder-empty-once.png'), fullPage: true });

      // Four failures of one kind leave one banner, the newest (they piled up), and it does not follow to another view.
      for (const missing of ['/no/such/folder-1', '/no/such/folder-2', '/no/such/folder-3', '/no/such/folder-4']) {
        await page.fill('#folder-path', missing);
        await page.press('#folder-path', 'Enter');
        await page.waitForFunction((m) => document.body.innerText.includes(m), missing, { timeout: 10_000 });
      }
      expect(await page.locator('[data-testid="banner"]').count()).toBe(1);
      expect(await page.textContent('[data-testid="banner"]')).toContain('Folder not found: /no/such/folder-4');
      await page.screenshot({ path: artifactPath('folder-banners-capped.png') });
      await page.click('[data-nav="runs"]');
      await page.waitForSelector('[data-nav="runs"][aria-current="page"]');
      expect(await page.locator('[data-testid="banner"]').count()).toBe(0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }, 60_000);
  it('a run that fails (truncated JPEGs pass the header check) says why, once, offers no Resume, and links its dataset report (issue 12 item 1)', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'moco-e2e-truncated-'));
    try {
      // Three JPEGs cut in half: their headers (and sizes) are sound, their pixels are not; one good PNG.
      const noise = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 256);
      const jpeg = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
      for (const name of ['t1.jpg', 't2.jpg', 't3.jpg']) writeFileSync(join(broken, name), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
      writeFileSync(join(broken, 'good.png'), await encodeRgbPng({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) }));
      await page.click('[data-nav="folder"]');
      await page.fill('#folder-path', broken);
      await page.press('#folder-path', 'Enter');
      await page.waitForFunction(() => document.querySelector('[data-testid="images-found"]')?.textContent === '4', null, { timeout: 30_000 });
      await page.click('[data-testid="start-training"]');
      await page.waitForFunction(() => document.querySelector('[data-testid="run-state"]')?.getAttribute('data-state') === 'failed', null, { timeout: 180_000 });
      const line = (await page.textContent('[data-testid="run-failure"]'))!;
      expect(line).toContain('Failed before the first step');
      expect(line).toContain('nothing to resume');
      expect(await page.locator('[data-testid="run-summary"]').count()).toBe(0); // no "Done: 0 steps"
      expect(await page.locator('[data-testid="resume-run"]').count()).toBe(0);
      // Why, said once on the page (the banner), not again beside it.
      expect(await page.evaluate(() => document.body.innerText.split('1 usable image').length - 1)).toBe(1);
      await page.screenshot({ path: artifactPath('folder-check-run-failed.png'), fullPage: true });
      await page.click('[data-testid="run-dataset-report"]');
      // A run's report is fetched (runs:dataset): wait for its rows, as allTextContents does not.
      await page.waitForSelector('[data-testid="dataset-report-files"] li', { timeout: 30_000 });
      const files = await page.locator('[data-testid="dataset-report-files"] li').allTextContents();
      expect(files).toHaveLength(3);
      for (const row of files) expect(row).toMatch(/t\d\.jpg.*truncated or corrupt/);
      await page.click('[data-testid="dataset-report-close"]');
      await page.click('[data-nav="runs"]');
      const row = page.locator('[data-testid="runs-table"] tbody tr', { has: page.locator('.state-pill[data-state="failed"]') });
      await row.waitFor();
      expect(await row.locator('button:has-text("Resume")').count()).toBe(0);
      // Reopened after a reload (no banner now), the Training view says why itself.
      await page.reload();
      await page.waitForSelector('[data-connection="open"]');
      await page.click('[data-nav="runs"]');
      await row.locator('button:has-text("Open")').click();
      await page.waitForSelector('[data-testid="run-failure"]');
      expect(await page.textContent('[data-testid="run-failure"]')).toMatch(/Failed before the first step: .*1 usable image/);
      expect(await page.locator('[data-testid="resume-run"]').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  }, 240_000);
});
