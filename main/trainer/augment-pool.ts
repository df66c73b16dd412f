/**
 * Augmentation on worker threads (issue 8). On a GPU the step can outrun JavaScript augmentation
 * on the trainer thread (main/bench/augment-throughput.ts measures both). Here the trainer thread
 * still makes every random draw, in the order makeTwoCropPixels makes them (per image: query,
 * then key), so the data RNG moves exactly as before; only the rendering of the pixels, which
 * depends on nothing random, is split over the workers by contiguous ranges of the batch.
 * The result equals makeTwoCropPixels' bit for bit (test/main/trainer/augment-pool.spec.ts).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { drawAugmentation, validateAugmentationConfig, type AugmentationConfig, type AugmentationParams, type RgbImage } from '../ml/augment.js';
import type { TwoCropPixels } from '../ml/batches.js';
import type { Rng } from '../ml/rng.js';

type ViewPair = { readonly query: AugmentationParams; readonly key: AugmentationParams };

export interface RenderRequest {
  readonly id: number;
  readonly config: AugmentationConfig;
  readonly images: readonly RgbImage[];
  readonly params: readonly ViewPair[];
}

export type RenderReply = { readonly id: number; readonly query: Float32Array; readonly key: Float32Array } | { readonly id: number; readonly error: string };

/** augment-worker.(ts|js) beside this module (source tree), or beside the bundled trainer (dist/trainer/, as the compute worker). */
function workerEntry(): { path: string; typescript: boolean } {
  const here = fileURLToPath(import.meta.url);
  const typescript = here.endsWith('.ts');
  return { path: join(dirname(here), typescript ? 'augment-worker.ts' : 'augment-worker.js'), typescript };
}

function spawn(): Worker {
  const entry = workerEntry();
  if (!existsSync(entry.path)) throw new Error(`augmentation worker not found at ${entry.path} (build with npm run build:electron, or run from the source tree)`);
  const url = pathToFileURL(entry.path).href;
  // Source tree: TypeScript through tsx's loader, registered inside the worker (as the compute workers do).
  return entry.typescript
    ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true })
    : new Worker(entry.path);
}

export class AugmentPool {
  private readonly pending = new Map<number, { resolve: (reply: RenderReply) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(private readonly workers: readonly Worker[]) {
    for (const [index, worker] of workers.entries()) {
      worker.on('message', (reply: RenderReply) => {
        const p = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        p?.resolve(reply);
      });
      worker.on('error', (error) => { this.fail(new Error(`augmentation worker ${index} crashed: ${error.message}`)); });
      worker.on('exit', (code) => { this.fail(new Error(`augmentation worker ${index} exited (code ${code})`)); });
    }
  }

  static start(workers: number): AugmentPool {
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`augmentation workers: expected an integer 1-64, got ${workers}`);
    return new AugmentPool(Array.from({ length: workers }, spawn));
  }

  get size(): number {
    return this.workers.length;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private render(worker: Worker, request: Omit<RenderRequest, 'id'>): Promise<RenderReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...request } satisfies RenderRequest);
    });
  }

  /**
   * makeTwoCropPixels(images, indices, config, rng), rendered on the workers. All draws are made
   * before this returns its promise, so the caller may use `rng` again at once.
   */
  twoCropPixels(images: readonly RgbImage[], indices: ArrayLike<number>, config: AugmentationConfig, rng: Rng): Promise<TwoCropPixels> {
    validateAugmentationConfig(config);
    const batch = Array.from({ length: indices.length }, (_, i) => {
      const image = images[indices[i]!];
      if (!image) throw new Error(`makeTwoCropBatch: no image at index ${indices[i]}`);
      return image;
    });
    const params: ViewPair[] = batch.map((image) => {
      const query = drawAugmentation(image.width, image.height, config, rng);
      const key = drawAugmentation(image.width, image.height, config, rng);
      return { query, key };
    });
    return this.renderBatch(batch, params, config);
  }

  private async renderBatch(batch: readonly RgbImage[], params: readonly ViewPair[], config: AugmentationConfig): Promise<TwoCropPixels> {
    const n = batch.length;
    const perView = config.outputSize * config.outputSize * 3;
    const chunk = Math.ceil(n / this.workers.length);
    const parts = this.workers.map((worker, w) => ({ worker, start: w * chunk, end: Math.min(n, (w + 1) * chunk) })).filter((p) => p.start < p.end);
    const replies = await Promise.all(parts.map((p) => this.render(p.worker, { config, images: batch.slice(p.start, p.end), params: params.slice(p.start, p.end) })));
    const queryPixels = new Float32Array(n * perView);
    const keyPixels = new Float32Array(n * perView);
    for (const [i, reply] of replies.entries()) {
      if ('error' in reply) throw new Error(`augmentation worker: ${reply.error}`);
      queryPixels.set(reply.query, parts[i]!.start * perView);
      keyPixels.set(reply.key, parts[i]!.start * perView);
    }
    return { params, queryPixels, keyPixels };
  }

  async dispose(): Promise<void> {
    this.failure ??= new Error('augmentation pool disposed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
