/**
 * The worker_threads transport of a data-parallel compute host (issue 9): a ReplicaChannel to one
 * replica in a worker (compute-worker.ts), and the pool built from such channels. Other
 * transports (a MessagePort to an Electron renderer, issue 8) implement the same ReplicaChannel.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReplicaChannel, ReplicaRequest } from '../ml/compute-protocol.js';
import type { ReplicaReply } from '../ml/compute-replica.js';
import { WorkerPoolHost, type WorkerPoolOptions } from '../ml/worker-pool-host.js';

/** W replicas in worker_threads, each with its own backend. */
export function startWorkerPool(options: Omit<WorkerPoolOptions, 'openChannel'>): Promise<WorkerPoolHost> {
  return WorkerPoolHost.create({ ...options, openChannel: (index) => new WorkerReplicaChannel(index) });
}

/** compute-worker.(ts|js) beside this module (source tree, or the bundled dist/trainer/). */
export function computeWorkerEntry(): { path: string; typescript: boolean } {
  const here = fileURLToPath(import.meta.url);
  const typescript = here.endsWith('.ts');
  return { path: join(dirname(here), typescript ? 'compute-worker.ts' : 'compute-worker.js'), typescript };
}

type Pending = { resolve: (reply: ReplicaReply) => void; reject: (error: Error) => void };

export class WorkerReplicaChannel implements ReplicaChannel {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(readonly index: number) {
    const entry = computeWorkerEntry();
    if (!existsSync(entry.path)) throw new Error(`compute worker not found at ${entry.path} (build with npm run build:electron, or run from the source tree)`);
    const url = pathToFileURL(entry.path).href;
    // Source tree: the worker loads TypeScript through tsx's loader, registered inside the worker.
    this.worker = entry.typescript
      ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true })
      : new Worker(entry.path);
    this.worker.on('message', (message: { id: number; reply?: ReplicaReply; error?: string }) => {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) p.reject(new Error(`compute worker ${index}: ${message.error}`));
      else p.resolve(message.reply!);
    });
    this.worker.on('error', (error) => { this.fail(new Error(`compute worker ${index} crashed: ${error.message}`)); });
    this.worker.on('exit', (code) => { this.fail(new Error(`compute worker ${index} exited (code ${code})${code === 1 ? '; out of memory? try fewer workers' : ''}`)); });
  }

  request<R extends ReplicaReply>(request: ReplicaRequest, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: ReplicaReply) => void, reject });
      this.worker.postMessage({ id, request }, [...transfer]);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error(`compute worker ${this.index} closed`);
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
