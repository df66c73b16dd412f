/**
 * The scan's per-entry stat/realpath calls, in one of three ways (ScanOptions.syscalls):
 * - 'worker' (default): off the event loop (issue 14), synchronous calls in a worker thread, a
 *   directory's worth (at most WORKER_BATCH) per message. At 100k files here, 64 async stats in flight
 * took 1.1-1.9 s (load 9-11: each is a trip through libuv's 4-thread pool and back, plus a promise
 * and a Stats object on the main thread), the same stats synchronously in a worker 0.44-0.66 s
 * including the worker's start. The server's event loop stays free, and a stat that hangs (a dead
 * network mount) blocks the worker only, as an async one would block a pool thread.
 *
 * The worker's source is plain JavaScript passed to `new Worker(..., { eval: true })`: it then runs
 * the same from the source tree (tsx), under vitest and from the esbuild bundle, with no file of
 * its own to locate or bundle. Should the worker fail, the scan goes on with 'parallel'.
 * - 'parallel': async calls, STAT_CONCURRENCY in flight (one at a time took 9-10 s at 100k).
 * - 'batched-sync': synchronous calls on the caller's thread, yielding every SYNC_BATCH entries;
 *   for processes with no UI on their event loop (the CLI preflight, the trainer). Not for the
 *   server: a stat that hangs would freeze its event loop, not only the scan.
 */
import { realpathSync, statSync, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

export type ScanSyscalls = 'worker' | 'parallel' | 'batched-sync';

const STAT_CONCURRENCY = 64;
/** Synchronous stats between two yields to the event loop ('batched-sync'): a few ms on a local disk. */
const SYNC_BATCH = 256;
/** Paths per worker message: bounds the message and lets the progress of a huge directory show. */
const WORKER_BATCH = 16_384;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { statSync, realpathSync } = require('node:fs');
parentPort.on('message', ({ id, paths, links }) => {
  const list = paths.split('\\0');
  const n = list.length;
  const size = new Float64Array(n), mtime = new Float64Array(n), kind = new Uint8Array(n);
  const reals = {}, errors = {};
  for (let i = 0; i < n; i++) {
    try {
      const s = statSync(list[i]);
      kind[i] = s.isFile() ? 1 : s.isDirectory() ? 2 : 3;
      size[i] = s.size;
      mtime[i] = s.mtimeMs;
      if (links[i] === 1) reals[i] = realpathSync(list[i]);
    } catch (error) {
      kind[i] = 0;
      errors[i] = { code: error && error.code, message: String(error && error.message) };
    }
  }
  parentPort.postMessage({ id, size, mtime, kind, reals, errors }, [size.buffer, mtime.buffer, kind.buffer]);
});
`;

/** What a stat (and, for a link, a realpath) found; `error` carries the errno code as fs errors do. */
export type StatFact =
  | { readonly error: NodeJS.ErrnoException }
  | { readonly error?: undefined; readonly file: boolean; readonly directory: boolean; readonly size: number; readonly mtimeMs: number; readonly real?: string };

/** An entry to stat: `link` when it is a symlink (then its real path is resolved too). */
export interface StatRequest {
  readonly path: string;
  readonly link: boolean;
}

function factOf(stats: Stats, real: string | undefined): StatFact {
  return { file: stats.isFile(), directory: stats.isDirectory(), size: stats.size, mtimeMs: stats.mtimeMs, ...(real === undefined ? {} : { real }) };
}

/**
 * The facts of `items`, in order, by `mode`; `worker` is the scan's StatWorker in 'worker' mode
 * (null when it could not start: then 'parallel'). Never throws for an entry: its error is its fact.
 */
export async function statEntries(items: readonly StatRequest[], mode: ScanSyscalls, worker: StatWorker | null): Promise<StatFact[]> {
  if (mode === 'worker' && worker !== null) {
    try {
      const facts: StatFact[] = [];
      for (let at = 0; at < items.length; at += WORKER_BATCH) {
        const batch = items.slice(at, at + WORKER_BATCH);
        facts.push(...(await worker.stat(batch.map((i) => i.path), batch.map((i) => i.link))));
      }
      return facts;
    } catch {
      // The worker died (out of memory, terminated): the same calls, async, on this thread.
    }
  }
  if (mode === 'batched-sync') {
    const facts: StatFact[] = [];
    for (let i = 0; i < items.length; i++) {
      if (i > 0 && i % SYNC_BATCH === 0) await new Promise<void>((resolve) => { setImmediate(resolve); });
      const { path, link } = items[i]!;
      try {
        facts.push(factOf(statSync(path), link ? realpathSync(path) : undefined));
      } catch (error) {
        facts.push({ error: error as NodeJS.ErrnoException });
      }
    }
    return facts;
  }
  const facts = new Array<StatFact>(items.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      const { path, link } = items[index]!;
      try {
        facts[index] = factOf(await stat(path), link ? await realpath(path) : undefined);
      } catch (error) {
        facts[index] = { error: error as NodeJS.ErrnoException };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STAT_CONCURRENCY, items.length) }, run));
  return facts;
}

/** A StatWorker, or null where worker threads cannot start (then the scan runs 'parallel'). */
export function startStatWorker(): StatWorker | null {
  try {
    return new StatWorker();
  } catch {
    return null;
  }
}

interface Reply {
  id: number;
  size: Float64Array;
  mtime: Float64Array;
  kind: Uint8Array;
  reals: Record<number, string>;
  errors: Record<number, { code: string | undefined; message: string }>;
}

/** One worker for one scan: `stat` a batch at a time, `close` when the walk is done. */
export class StatWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    // A scan never keeps the process alive by itself (it is awaited while it runs).
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      for (const waiting of this.pending.values()) waiting.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => { fail(new Error(`scan stat worker exited (code ${code})`)); });
  }

  /** stat (following links) each path; realpath too where `link[i]`. Rejects only when the worker itself failed. */
  async stat(paths: readonly string[], link: readonly boolean[]): Promise<StatFact[]> {
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, paths: paths.join('\0'), links: Uint8Array.from(link, (l) => (l ? 1 : 0)) });
    });
    return paths.map((_, i): StatFact => {
      const kind = reply.kind[i]!;
      if (kind === 0) {
        const { code, message } = reply.errors[i]!;
        return { error: Object.assign(new Error(message), code === undefined ? {} : { code }) };
      }
      const real = reply.reals[i];
      return { file: kind === 1, directory: kind === 2, size: reply.size[i]!, mtimeMs: reply.mtime[i]!, ...(real === undefined ? {} : { real }) };
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('scan stat worker closed');
    await this.worker.terminate();
  }
}
