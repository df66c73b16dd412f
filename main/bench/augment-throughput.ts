/**
 * `npm run bench:augment`: can augmentation keep a GPU fed (issue 8)? Views per second of the
 * product's two-crop augmentation (v2, batch 128) at 32 and 64 px, from images stored as the
 * trainer stores them (storeSizeFor: twice the crop, at least 64 px), on the trainer thread
 * (makeTwoCropPixels) and on the augmentation worker pool at each worker count. A step of N images
 * needs 2N views, so V views/s caps training at V / 2 img/s whatever the GPU. Rounds alternate the
 * variants (the machine is shared); each JSON line has the 1-minute load before and after.
 *   npm run -s bench:augment [-- --rounds=3] [-- --batches=6] [-- --workers=1,2] [-- --sizes=32,64]
 */
import { loadavg } from 'node:os';
import { generateSampleSet } from '../core/sample-images.js';
import { defaultAugmentationConfig } from '../ml/augment.js';
import { makeTwoCropPixels } from '../ml/batches.js';
import { Rng } from '../ml/rng.js';
import { AugmentPool } from '../trainer/augment-pool.js';
import { storeSizeFor } from '../trainer/training-config.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rounds = Number(option('rounds', '3'));
const batches = Number(option('batches', '6'));
const workerCounts = option('workers', '1,2').split(',').map(Number);
const sizes = option('sizes', '32,64').split(',').map(Number);
const BATCH = 128;
const load1 = (): number => Number(loadavg()[0]!.toFixed(2));

const pools = new Map(workerCounts.map((w) => [w, AugmentPool.start(w)]));
try {
  for (const size of sizes) {
    const images = generateSampleSet({ perClass: 26, size: storeSizeFor(size), seed: 3 }).map((s) => s.image);
    const config = defaultAugmentationConfig('v2', size);
    const rng = new Rng(1);
    const indices = (b: number): Int32Array => Int32Array.from({ length: BATCH }, (_, i) => (b * BATCH + i) % images.length);
    type Variant = { name: string; workers: number; run: (b: number) => Promise<unknown> };
    const variants: Variant[] = [
      { name: 'trainer thread', workers: 0, run: (b) => Promise.resolve(makeTwoCropPixels(images, indices(b), config, rng)) },
      ...workerCounts.map((w) => ({ name: `pool of ${w}`, workers: w, run: (b: number) => pools.get(w)!.twoCropPixels(images, indices(b), config, rng) })),
    ];
    for (const v of variants) await v.run(0); // warm-up: JIT, worker start-up
    for (let r = 0; r < rounds; r++) {
      for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
        const loadBefore = load1();
        const started = performance.now();
        for (let b = 0; b < batches; b++) await v.run(b);
        const seconds = (performance.now() - started) / 1000;
        const viewsPerSecond = Math.round((batches * BATCH * 2) / seconds);
        console.log(JSON.stringify({ size, storeSize: storeSizeFor(size), batch: BATCH, round: r, variant: v.name, workers: v.workers, msPerBatch: Math.round((seconds * 1000) / batches), viewsPerSecond, capImagesPerSecond: Math.round(viewsPerSecond / 2), loadBefore, loadAfter: load1() }));
      }
    }
  }
} finally {
  await Promise.all([...pools.values()].map((p) => p.dispose()));
}
