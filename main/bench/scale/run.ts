/**
 * `npm run bench:scale -- --images N [--steps 6] [--batch-size 64] [--workers 1] [--width 0.25] [--skip-embed] [--ui] [--keep]` (issue 14): how the data side
 * scales with the folder. Generates (or reuses) a folder of N distinct 96-px JPEGs under the temp
 * directory, then measures, in this order: the scan, the first load (decode + cache fill, fresh
 * cache), the cached load, a real trainer process for a few steps at 32 px (peak RSS, step time),
 * the real embed job and exact top-10 neighbour queries. Prints one JSON document on stdout
 * (progress on stderr), with the load average beside the figures: timings are only comparable
 * under similar load.
 *
 * grid / map are measured in Chromium by main/bench/ui/measure.ts (measureUiScale) when `--ui` is
 * given; null without it.
 */
import { loadavg } from 'node:os';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { scanImageFolder } from '../../core/images/scan.js';
import { storeSizeFor } from '../../trainer/training-config.js';
import { loadTrainingImages } from '../../trainer/training-images.js';
import { measureUiScale } from '../ui/measure.js';
import { benchFolder, benchRoot } from './generate.js';
import { BENCH_SETTINGS, probeTrainer } from './trainer-probe.js';

function integerFlag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer, got ${process.argv[at + 1] ?? 'nothing'} (e.g. --${name} 20000)`);
  return value;
}

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
const progress = (message: string): void => { process.stderr.write(`[bench:scale] ${message}\n`); };

async function main(): Promise<void> {
  const images = integerFlag('images', 2000);
  const steps = integerFlag('steps', 6);
  // The trainer's batch (default 64): its step working set, not N, sets most of the peak RSS.
  const batchSize = integerFlag('batch-size', BENCH_SETTINGS.batchSize);
  // The trainer's worker threads and width (defaults: one thread, width 1/4); --workers 2 --width 0.125 is the CPU product default on 2 cores.
  const workers = integerFlag('workers', BENCH_SETTINGS.workers);
  const widthAt = process.argv.indexOf('--width');
  const widthMultiplier = widthAt < 0 ? BENCH_SETTINGS.widthMultiplier : Number(process.argv[widthAt + 1]);
  if (!(widthMultiplier > 0 && widthMultiplier <= 1)) throw new Error(`--width needs a width multiplier in (0, 1], got ${process.argv[widthAt + 1] ?? 'nothing'} (e.g. --width 0.125)`);
  const wantUi = process.argv.includes('--ui');
  const keep = process.argv.includes('--keep');
  // The whole-folder embed takes longest on a loaded 2-core machine: --skip-embed leaves it (and the neighbour query) null.
  const skipEmbed = process.argv.includes('--skip-embed');
  const loadBefore = loadavg();

  const generated = await benchFolder(images, (done) => { progress(`generated ${done}/${images}`); });
  progress(generated.generatedSeconds === null ? `reusing ${generated.folder}` : `generated ${images} images in ${generated.generatedSeconds.toFixed(1)} s`);
  const workDir = join(benchRoot(), `work-${images}-${process.pid}`);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const cacheDir = join(workDir, 'cache');
  try {
    const scanStarted = performance.now();
    const scan = await scanImageFolder(generated.folder);
    const scanSeconds = (performance.now() - scanStarted) / 1000;
    if (scan.images.length !== images) throw new Error(`scan found ${scan.images.length} images, expected ${images}`);
    progress(`scan ${scanSeconds.toFixed(2)} s`);

    const storeSize = storeSizeFor(32);
    // The trainer's own load: scan, per-image cache or decode, the decoded-image store (issue 14).
    const noProgress = (): void => undefined;
    const first = await loadTrainingImages(generated.folder, cacheDir, storeSize, noProgress);
    await first.source.close();
    progress(`first load ${first.seconds.toFixed(1)} s`);
    const cached = await loadTrainingImages(generated.folder, cacheDir, storeSize, noProgress);
    await cached.source.close();
    progress(`cached load ${cached.seconds.toFixed(1)} s`);

    const trainer = await probeTrainer(generated.folder, cacheDir, workDir, { steps, embed: !skipEmbed, batchSize, workers, widthMultiplier }, progress);
    progress(`trainer peak RSS ${trainer.trainerPeakRssMB ?? '?'} MB, step ${trainer.stepMs.toFixed(0)} ms, embed ${trainer.embedSeconds?.toFixed(1) ?? 'skipped'} s`);

    // In Chromium, by the map stream's bench (main/bench/ui/measure.ts); its fixture lives in the work dir.
    const ui = wantUi ? await measureUiScale({ images, workDir: join(workDir, 'ui'), log: progress }) : null;
    const result = {
      images,
      scanSeconds: round(scanSeconds, 3),
      firstLoadImagesPerSecond: round(images / first.seconds),
      cachedLoadImagesPerSecond: round(images / cached.seconds),
      trainerPeakRssMB: trainer.trainerPeakRssMB === null ? null : round(trainer.trainerPeakRssMB),
      stepMs: round(trainer.stepMs),
      embedSeconds: trainer.embedSeconds === null ? null : round(trainer.embedSeconds, 2),
      neighbourQueryMs: trainer.neighbourQueryMs === null ? null : round(trainer.neighbourQueryMs, 2),
      grid: ui?.grid ?? null,
      map: ui?.map ?? null,
      more: {
        settings: { ...BENCH_SETTINGS, batchSize, workers, widthMultiplier }, storeSize, stepsMeasured: trainer.steps,
        trainerLoadSeconds: round(trainer.trainerLoadSeconds, 2),
        embedPeakRssMB: trainer.embedPeakRssMB === null ? null : round(trainer.embedPeakRssMB),
        firstLoadSeconds: round(first.seconds, 2), cachedLoadSeconds: round(cached.seconds, 2),
        generatedSeconds: generated.generatedSeconds === null ? null : round(generated.generatedSeconds, 1),
      },
      uptime: { loadBefore: loadBefore.map((v) => round(v, 2)), loadAfter: loadavg().map((v) => round(v, 2)) },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    if (!keep) await rm(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:scale: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
