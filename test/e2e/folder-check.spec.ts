/**
 * Issue 12 item 1 in real Chromium against `moco-studio serve`: the folder check reads headers.
 * Three text files named .jpg plus one PNG must show "1 image, 3 skipped", Start disabled with the
 * reason, and a dataset report that lists each skipped file with its reason. Screenshots land in
 * test-artifacts/e2e/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
