/**
 * Issue 12 items 2, 5, 8 in Chromium against the real server and trainer: a page reloaded mid-run
 * rebuilds the whole Training view from the run's files and state; a stopped run says so and
 * resumes with its history and random-init baseline; the run list follows by itself; a finished
 * run reopened after a reload shows its summary, previews, per-class kNN and backend; the charts
 * zoom and switch to a log scale; another run is overlaid on the charts; the page loads without a 404 (favicon) and uses a 1920 px screen.
 * Screenshots: test-artifacts/e2e/runs-*.png.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, chromiumAvailable, ensureRendererBuilt, launchBrowser, startStudioServer, type StudioServer } from './harness.js';

// 400 sample images / batch 32 = 12 steps: long enough to pause, reload, stop and resume in the middle.
const SHORT_SETTINGS: Record<string, string> = { epochs: '1', imageSize: '16', widthMultiplier: '0.125', batchSize: '32', previewEvery: '3' };

describe.skipIf(!chromiumAvailable)('runs survive reloads, stops and reopening (issue 12)', () => {
  let server: StudioServer | undefined;
  let browser: { context: BrowserContext; close(): Promise<void> } | undefined;
  let page: Page;
  const failures: string[] = [];

  beforeAll(async () => {
    ensureRendererBuilt();
    server = await startStudioServer();
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    await page.setViewportSize({ width: 1920, height: 1080 });
    page.on('response', (response) => { if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`); });
    page.on('pageerror', (error) => { failures.push(error.message); });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const state = (): Promise<string | null> => page.getAttribute('[data-testid="run-state"]', 'data-state');
  const waitState = (wanted: string, timeout = 120_000): Promise<unknown> => page.waitForFunction((s) => document.querySelector('[data-testid="run-state"]')?.getAttribute('data-state') === s, wanted, { timeout });
  const chart = (id: string, attribute: string): Promise<string | null> => page.getAttribute(`[data-testid="${id}"]`, attribute);
  const nav = async (view: string): Promise<void> => {
    await page.click(`[data-nav="${view}"]`);
    await page.waitForSelector(`[data-nav="${view}"][aria-current="page"]`);
  };

  it('rebuilds the Training view after a reload mid-run: state, controls, folder, progress, backend, history from step 1, reference lines, previews', async () => {
    await page.goto(server!.url);
    await page.waitForSelector('[data-connection="open"]');
    // The welcome's quick first run: the sample with its settings, and the time measured before Start.
    await page.click('[data-testid="welcome-quick"]');
    await page.waitForSelector('[data-testid="images-found"]');
    await page.waitForSelector('[data-testid="eta-estimate-value"]', { timeout: 60_000 });
    // From Start to finished: the trainer's measured start-up, the timed steps, and the embedding of the kNN checks and final embeddings.
    expect(await page.textContent('[data-testid="eta-estimate"]')).toMatch(/≈ .+ from Start to finished: .+ start-up \(trainer, backend, first compilation\) \+ .+ of training \(\d+ steps × [\d.]+ s on \w+.*\) \+ .+ embedding [\d,]+ images/);
    expect(await page.textContent('[data-testid="eta-startup"]')).toMatch(/^(\d+ min )?\d+ s start-up$/);
    expect(await page.textContent('[data-setting-summary="epochs"]')).toContain('your setting'); // the summary shows the edits
    await page.screenshot({ path: artifactPath('runs-quick-run-estimate.png') });
    // Before any step: the Training view names the folder it will train, and empty charts say so (no made-up -1..1 axes).
    await nav('training');
    expect(await page.textContent('[data-testid="run-folder"]')).toContain('sample');
    expect(await page.locator('.chart-empty').count()).toBeGreaterThanOrEqual(4);
    await page.screenshot({ path: artifactPath('runs-empty-charts.png') });
    await nav('folder');
    await page.click('[data-testid="advanced-settings"] summary');
    for (const [field, value] of Object.entries(SHORT_SETTINGS)) await page.fill(`[data-setting="${field}"]`, value);
    await page.click('[data-testid="start-training"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points')) >= 4, null, { timeout: 120_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="previews"]')?.getAttribute('data-count')) > 0, null, { timeout: 60_000 });
    await page.click('.controls button:has-text("Pause")');
    await waitState('paused');
    const pointsBefore = Number(await chart('loss-chart', 'data-points'));

    await page.reload();
    await page.waitForSelector('[data-connection="open"]');
    await waitState('paused', 30_000);
    expect(await page.textContent('[data-testid="run-folder"]')).toContain('sample');
    expect(Number(await page.getAttribute('[role="progressbar"]', 'aria-valuenow'))).toBeGreaterThan(0);
    expect((await page.textContent('[data-testid="run-backend"]'))?.trim()).not.toBe('–');
    expect(await page.textContent('[data-testid="eta"]')).toBe('paused');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points')) >= n, pointsBefore, { timeout: 10_000 });
    expect(await chart('loss-chart', 'data-first-x')).toBe('1');
    expect(await chart('loss-chart', 'data-series')).toContain('chance log(K+1)');
    expect(await chart('std-chart', 'data-series')).toContain('1/√dim');
    expect(Number(await page.getAttribute('[data-testid="previews"]', 'data-count'))).toBeGreaterThan(0);
    expect(await page.locator('.controls button:has-text("Resume")').count()).toBe(1);
    await page.screenshot({ path: artifactPath('runs-reload-mid-run.png'), fullPage: true });

    await page.click('.controls button:has-text("Resume")');
    await waitState('training');
    expect(await page.locator('.controls button:has-text("Pause")').count()).toBe(1);
  }, 240_000);

  it('says "Stopped" (not "Done:") with Resume for a stopped run, and the run list follows without Refresh', async () => {
    await page.click('.controls button:has-text("Stop")');
    await waitState('stopped');
    await page.waitForSelector('[data-testid="run-summary"]');
    const summary = await page.textContent('[data-testid="run-summary"]');
    expect(summary).toContain('Stopped at step');
    expect(summary).not.toContain('Done:');
    expect(await page.locator('[data-testid="resume-run"]').count()).toBe(1);
    await page.screenshot({ path: artifactPath('runs-stopped.png'), fullPage: true });
    await nav('runs');
    await page.waitForFunction(() => document.querySelector('[data-testid="runs-table"] .state-pill')?.textContent.trim() === 'stopped', null, { timeout: 10_000 });
  }, 60_000);

  it('resumes with the history from step 1 and the random-init baseline kept in the run record', async () => {
    await nav('training');
    await page.click('[data-testid="resume-run"]');
    await waitState('finished', 240_000);
    expect(await chart('loss-chart', 'data-first-x')).toBe('1');
    const summary = await page.textContent('[data-testid="run-summary"]');
    expect(summary).toContain('Done:');
    expect(summary).toMatch(/random init \d+\.\d %/);
  }, 260_000);

  it('reopens the finished run after a reload: summary, previews, backend, per-class kNN, 100 %; charts zoom and go logarithmic', async () => {
    await page.reload();
    await page.waitForSelector('[data-connection="open"]');
    await nav('runs');
    await page.waitForFunction(() => document.querySelector('[data-testid="runs-table"] .state-pill')?.textContent.trim() === 'finished', null, { timeout: 10_000 });
    await page.click('[data-testid="runs-table"] button:has-text("Open")');
    await page.waitForSelector('[data-testid="run-summary"]');
    expect(await state()).toBe('finished');
    expect(await page.textContent('[data-testid="run-summary"]')).toMatch(/Done: \d+ steps/);
    expect(Number(await page.getAttribute('[data-testid="previews"]', 'data-count'))).toBeGreaterThan(0);
    expect((await page.textContent('[data-testid="run-backend"]'))?.trim()).not.toBe('–');
    expect(await page.getAttribute('[role="progressbar"]', 'aria-valuenow')).toBe('100');
    expect(await page.locator('[data-testid="confusion-row"]').count()).toBeGreaterThan(1);
    expect(await page.locator('[data-testid="class-accuracy"]').first().textContent()).toMatch(/%/);

    await page.check('[data-testid="loss-chart"] >> xpath=ancestor::figure//input[@data-testid="chart-log"]');
    expect(await chart('loss-chart', 'data-log')).toBe('yes');
    const box = (await page.locator('[data-testid="loss-chart"]').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    expect(await chart('loss-chart', 'data-zoomed')).toBe('yes');
    await page.screenshot({ path: artifactPath('runs-reopened-1920.png'), fullPage: true });
    await page.dblclick('[data-testid="loss-chart"]');
    expect(await chart('loss-chart', 'data-zoomed')).toBe('no');

    // Wide screens are used (it stopped at 1400 px).
    const width = await page.evaluate(() => document.querySelector('.view')!.getBoundingClientRect().width);
    expect(width).toBeGreaterThan(1500);
  }, 60_000);

  it('overlays another run on the charts (issue 12 item 5) and takes it off again', async () => {
    // A second finished run: a copy of this one's files, made earlier, with every loss 1 higher and kNN 10 points lower,
    // so its curves differ from the open run's.
    const runsRoot = join(server!.home, 'runs');
    const [original] = readdirSync(runsRoot);
    const otherId = `${original!}-earlier`;
    const other = join(runsRoot, otherId);
    cpSync(join(runsRoot, original!), other, { recursive: true });
    const record = JSON.parse(readFileSync(join(other, 'run.json'), 'utf8')) as { id: string; createdAt: string };
    writeFileSync(join(other, 'run.json'), JSON.stringify({ ...record, id: otherId, createdAt: new Date(Date.parse(record.createdAt) - 3_600_000).toISOString() }));
    const shift = (file: string, change: (row: Record<string, number | null>) => void): void => {
      const rows = readFileSync(join(other, file), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, number | null>);
      rows.forEach(change);
      writeFileSync(join(other, file), rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
    };
    shift('metrics.jsonl', (row) => { row.loss = row.loss! + 1; });
    shift('epochs.jsonl', (row) => { if (typeof row.knnTop1 === 'number') row.knnTop1 -= 0.1; });
    const originalMetrics = readFileSync(join(runsRoot, original!, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length;

    await nav('runs');
    await page.click('button:has-text("Refresh")');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-table"] .state-pill').length === 2, null, { timeout: 10_000 });
    await nav('training');
    expect(await page.locator(`[data-testid="overlay-run"] option[value="${original!}"]`).count()).toBe(0); // not the run shown itself
    await page.selectOption('[data-testid="overlay-run"]', otherId);
    const label = `run ${otherId.slice(0, 16)}…`;
    for (const id of ['loss-chart', 'accuracy-chart', 'std-chart', 'knn-chart']) {
      await page.waitForFunction(([testid, wanted]) => (document.querySelector(`[data-testid="${testid!}"]`)?.getAttribute('data-series') ?? '').split('|').includes(wanted!), [id, label], { timeout: 10_000 });
    }
    // The open run's own curve is unchanged beside it (data-points counts the first series: the open run's).
    expect(Number(await chart('loss-chart', 'data-points'))).toBe(originalMetrics);
    await page.screenshot({ path: artifactPath('runs-overlay.png'), fullPage: true });
    await page.selectOption('[data-testid="overlay-run"]', '');
    await page.waitForFunction((wanted) => !(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-series') ?? '').includes(wanted), label, { timeout: 10_000 });
  }, 60_000);

  it('loaded every resource (the favicon too) without an error', () => {
    expect(failures).toEqual([]);
  });
});
