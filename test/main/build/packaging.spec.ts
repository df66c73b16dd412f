/**
 * Packaging (issue #5): `npm run pack:check` end to end — builds dist/, packages `--linux dir`
 * with electron-builder against a stand-in Electron folder (offline), and asserts the layout of
 * the package (main/build/pack-check.ts). ~30 s on 2 cores. The tar.gz (7za compression of
 * ~110 MB, another ~60-80 s) runs from .ci/run after `npm test`: `npm run pack:check -- --tar`.
 */
import { describe, expect, it } from 'vitest';
import { packCheck } from '../../../main/build/pack-check.js';

describe('packaged app (electron-builder --linux dir, stand-in Electron)', () => {
  it('holds the bundles in app.asar, unpacks loadable native modules, ships nothing from development', async () => {
    const report = await packCheck({ build: true, tar: false, keep: false });
    process.stdout.write(`pack:check ${JSON.stringify(report)}\n`);
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.bytes.appAsar).toBeGreaterThan(1_000_000);
    // A regression guard: the app (without Electron itself) stays well under 300 MB unpacked.
    expect(report.bytes.total).toBeLessThan(300 * 1024 * 1024);
  }, 600_000);
});
