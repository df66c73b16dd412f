/**
 * The selected run's embedding map (issues 12 item 6, 14): the image list (its own cheap request,
 * so grids never wait for a projection), the PCA points (Float32, decoded from the compact reply),
 * a UMAP of a sample fitted in a Web Worker on demand, and the map's selection state: hidden
 * classes and the lasso selection that filters the Map view's grid.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, ref, shallowRef } from 'vue';
import { base64ToFloat32, base64ToInt32 } from '../../../shared/binary-base64';
import type { InvokeResponse } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import { NO_CLASS } from '../lib/scatter-raster';
import { useUiStore } from './ui';

export type MapItems = InvokeResponse<'embeddings:items'>;
export type MapItem = MapItems['items'][number];

/** UMAP is fitted on at most this many rows: ~10-30 s in a worker here; all 100k would take many minutes. */
export const UMAP_MAX_ROWS = 3000;
const UMAP_EPOCHS = 200;

export interface Projection {
  readonly xy: Float32Array;
  /** Row of each point; null when point i is row i (PCA of every row). */
  readonly rowOf: Int32Array | null;
}

export const useMapStore = defineStore('map', () => {
  const ui = useUiStore();
  const runId = ref<string | null>(null);
  /** Large arrays: kept raw (never deep-reactive). */
  const itemsData = shallowRef<MapItems | null>(null);
  const itemsLoading = ref(false);
  const pca = shallowRef<(Projection & { explainedVariance: [number, number]; fittedRows: number }) | null>(null);
  const loading = ref(false);
  const problem = ref<string | null>(null);
  const projection = ref<'pca' | 'umap'>('pca');
  const umap = shallowRef<(Projection & { totalRows: number }) | null>(null);
  const umapProgress = ref<number | null>(null);
  const hiddenClasses = shallowRef<ReadonlySet<number>>(new Set());
  const selection = shallowRef<ReadonlySet<number> | null>(null);
  let worker: Worker | null = null;

  const items = computed<readonly MapItem[]>(() => itemsData.value?.items ?? []);
  const classes = computed(() => itemsData.value?.classes ?? []);
  /** Which checkpoint's embeddings the map shows (the newest one while the run trains: issue 12 item 3). */
  const checkpoint = computed(() => itemsData.value?.checkpoint ?? null);
  /** Class index per row (NO_CLASS: none). */
  const classOf = computed(() => {
    const list = itemsData.value;
    const out = new Uint16Array(list?.items.length ?? 0).fill(NO_CLASS);
    if (!list) return out;
    const index = new Map(list.classes.map((c, i) => [c, i]));
    list.items.forEach((item, row) => { if (item.className !== null) out[row] = index.get(item.className) ?? NO_CLASS; });
    return markRaw(out);
  });
  const current = computed<Projection | null>(() => (projection.value === 'umap' ? umap.value : pca.value));
  /** Rows of the Map view's grid: the lasso selection (or every row), without hidden classes. */
  const filteredRows = computed<number[]>(() => {
    const hidden = hiddenClasses.value;
    const c = classOf.value;
    const keep = (row: number): boolean => c[row] === NO_CLASS || !hidden.has(c[row]!);
    const source = selection.value ? [...selection.value] : Array.from({ length: items.value.length }, (_, row) => row);
    return hidden.size === 0 ? source : source.filter(keep);
  });

  function isCurrent(id: string): boolean { return runId.value === id; }

  async function loadItems(id: string): Promise<void> {
    itemsLoading.value = true;
    try {
      const result = await getApi().invoke('embeddings:items', { runId: id });
      if (isCurrent(id)) itemsData.value = markRaw(result);
    } finally {
      if (isCurrent(id)) itemsLoading.value = false;
    }
  }

  async function loadPca(id: string): Promise<void> {
    loading.value = true;
    try {
      const result = await getApi().invoke('embeddings:map', { runId: id });
      if (isCurrent(id)) pca.value = markRaw({ xy: base64ToFloat32(result.points), rowOf: null, explainedVariance: result.explainedVariance, fittedRows: result.fittedRows });
    } finally {
      if (isCurrent(id)) loading.value = false;
    }
  }

  /** Loads the item list and the PCA of run `id` (both at once: the list answers first). */
  async function load(id: string, force = false): Promise<void> {
    if (!force && runId.value === id && (itemsData.value !== null || itemsLoading.value)) return;
    clear();
    runId.value = id;
    try {
      await Promise.all([loadItems(id), loadPca(id)]);
    } catch (error) {
      if (isCurrent(id)) {
        problem.value = error instanceof Error ? error.message : String(error);
        ui.reportError('Could not load the embeddings', error);
      }
    }
  }

  /** Switches the projection; the first switch to UMAP fits it in a worker (progress in umapProgress). */
  async function setProjection(next: 'pca' | 'umap'): Promise<void> {
    projection.value = next;
    const id = runId.value;
    if (next !== 'umap' || umap.value || umapProgress.value !== null || id === null) return;
    umapProgress.value = 0;
    try {
      const sample = await getApi().invoke('embeddings:sample', { runId: id, maxRows: UMAP_MAX_ROWS });
      if (!isCurrent(id)) return;
      const rowOf = base64ToInt32(sample.rowIndexes);
      const xy = await fitUmap(base64ToFloat32(sample.vectors), sample.rows, sample.dim);
      if (isCurrent(id)) umap.value = markRaw({ xy, rowOf, totalRows: sample.totalRows });
    } catch (error) {
      if (isCurrent(id)) { ui.reportError('UMAP failed', error); projection.value = 'pca'; }
    } finally {
      if (isCurrent(id)) umapProgress.value = null;
    }
  }

  function fitUmap(vectors: Float32Array, rows: number, dim: number): Promise<Float32Array> {
    worker?.terminate();
    const w = new Worker(new URL('../lib/umap-worker.ts', import.meta.url), { type: 'module' });
    worker = w;
    return new Promise((resolve, reject) => {
      w.onmessage = (event: MessageEvent<{ type: 'progress'; done: number; total: number } | { type: 'done'; points: Float32Array } | { type: 'error'; message: string }>) => {
        const message = event.data;
        if (message.type === 'progress') { umapProgress.value = message.done / message.total; return; }
        w.terminate();
        if (worker === w) worker = null;
        if (message.type === 'done') resolve(message.points); else reject(new Error(message.message));
      };
      w.onerror = (event) => { w.terminate(); reject(new Error(event.message || 'the UMAP worker failed to start')); };
      w.postMessage({ vectors, rows, dim, epochs: UMAP_EPOCHS }, [vectors.buffer]);
    });
  }

  function toggleClass(index: number): void {
    const next = new Set(hiddenClasses.value);
    if (next.has(index)) next.delete(index); else next.add(index);
    hiddenClasses.value = next;
  }

  function select(rows: readonly number[] | null): void {
    selection.value = rows === null ? null : new Set(rows);
  }

  function clear(): void {
    worker?.terminate();
    worker = null;
    runId.value = null;
    itemsData.value = null;
    pca.value = null;
    umap.value = null;
    umapProgress.value = null;
    projection.value = 'pca';
    problem.value = null;
    loading.value = false;
    itemsLoading.value = false;
    hiddenClasses.value = new Set();
    selection.value = null;
  }

  return {
    runId, items, classes, checkpoint, classOf, itemsLoading, pca, umap, umapProgress, loading, problem, projection, current, hiddenClasses, selection, filteredRows,
    load, setProjection, toggleClass, select, clear,
  };
});
