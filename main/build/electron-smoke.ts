/**
 * Smoke test of the packaged desktop app (issue 8), for the release workflow only: it needs the
 * Electron binary, which cannot be downloaded on the development machines.
 *   npx tsx main/build/electron-smoke.ts <app executable> <screenshot directory>
 * Opens the app with Playwright's Electron driver, chooses the sample set, trains a few steps
 * on the GPU route (backend webgpu: the hidden compute renderer's WebGPU; on a runner without a
 * GPU, Chromium's SwiftShader software adapter, allowed by MOCO_WEBGPU_ALLOW_FALLBACK=1), stops,
 * and saves screenshots. Fails if no loss point arrives or the backend line is not webgpu.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { _electron as electron } from 'playwright-core';

const TINY: Record<string, string> = { epochs: '1', imageSize: '16', widthMultiplier: '0.125', batchSize: '16', previewEvery: '2' };
const STEPS = 3;

async function main(): Promise<void> {
  const [executablePath, screenshots] = process.argv.slice(2);
  if (!executablePath || !screenshots) throw new Error('usage: electron-smoke.ts <app executable> <screenshot directory>');
  mkdirSync(screenshots, { recursive: true });
  const app = await electron.launch({
    executablePath,
    env: { ...process.env, MOCO_WEBGPU_ALLOW_FALLBACK: '1' },
    timeout: 120_000,
  });
  try {
    const page = await app.firstWindow(); // the app window; the compute window opens later, hidden
    await page.waitForSelector('[data-testid="use-sample"]', { timeout: 120_000 });
    await page.screenshot({ path: join(screenshots, 'electron-welcome.png') });
    await page.click('[data-testid="use-sample"]');
    await page.waitForSelector('[data-testid="images-found"]', { timeout: 120_000 });
    await page.click('[data-testid="advanced-settings"] summary');
    for (const [field, value] of Object.entries(TINY)) await page.fill(`[data-setting="${field}"]`, value);
    await page.selectOption('[data-setting="backend"]', 'webgpu');
    await page.click('[data-testid="start-training"]');
    await page.waitForFunction(`Number(document.querySelector('[data-testid="loss-chart"]')?.getAttribute('data-points')) >= ${STEPS}`, null, { timeout: 600_000 });
    const backendLine = (await page.locator('text=/Backend webgpu:/').first().textContent({ timeout: 10_000 })) ?? '';
    process.stdout.write(`${backendLine}\n`);
    await page.screenshot({ path: join(screenshots, 'electron-training.png'), fullPage: true });
    if (!/compute renderer/.test(backendLine)) throw new Error(`the run did not train through the compute renderer: "${backendLine}"`);
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`electron smoke test failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
