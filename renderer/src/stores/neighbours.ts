/**
 * Neighbour search in the selected run: a clicked image of the run (row), a neighbour clicked in
 * the results, or an outside image uploaded from this computer (its bytes go over the socket;
 * issue 12 item 7), and its top-k, optionally side by side with the top-k in the embeddings of
 * one of the run's checkpoints. `space` switches the main column between the trained encoder, the
 * random start (the run's step-0 checkpoint) and the raw standardised pixels at the training size
 * (the baseline an embedding has to beat) for the same query (issue 10 item 3).
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { MAX_UPLOAD_BYTES, type Neighbour } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import { useMapStore } from './map';
import { useRunsStore } from './runs';
import { useUiStore } from './ui';
import { uploadableImage } from '../lib/upload-image';

type Target = { row: number } | { upload: { name: string; base64: string } };
export type EmbeddingSpace = 'trained' | 'random-init' | 'pixels';

/** The random start: the checkpoint a fresh run writes before its first step (issue 12 item 3). */
export const RANDOM_INIT_CHECKPOINT = 'step-000000000.ckpt';

export const useNeighboursStore = defineStore('neighbours', () => {
  const ui = useUiStore();
  const selectedRow = ref<number | null>(null);
  /** What the results are for: a row's path or an uploaded file's name. */
  const queryLabel = ref<string | null>(null);
  /** An object URL of the uploaded query image (shown beside the results); null for a row. */
  const uploadPreviewUrl = ref<string | null>(null);
  const results = ref<Neighbour[]>([]);
  /** Whose embeddings answered the main column: the checkpoint, and whether it is the newest of a run still training. */
  const source = ref<{ checkpoint: string; live: boolean } | null>(null);
  const loading = ref(false);
  const k = ref(12);
  const space = ref<EmbeddingSpace>('trained');
  /** A checkpoint file name of the run to compare with; '' = no comparison. */
  const compareCheckpoint = ref('');
  /** The top-k in the compared checkpoint's embeddings (empty without a comparison). */
  const compareResults = ref<Neighbour[]>([]);
  const compareLoading = ref(false);
  let last: { runId: string; target: Target } | null = null;
  // Answers to an older query (or comparison) than the latest are dropped.
  let generation = 0;
  let compareGeneration = 0;

  async function search(runId: string, target: Target, checkpoint?: string, pixels = false): Promise<{ neighbours: Neighbour[]; source: { checkpoint: string; live: boolean } }> {
    return getApi().invoke('neighbours:query', { runId, k: k.value, ...target, ...(checkpoint ? { checkpoint } : {}), ...(pixels ? { pixels: true as const } : {}) });
  }

  async function compare(runId: string, target: Target): Promise<void> {
    const current = ++compareGeneration;
    const checkpoint = compareCheckpoint.value;
    compareResults.value = [];
    compareLoading.value = false;
    if (!checkpoint) return;
    compareLoading.value = true;
    try {
      const found = await search(runId, target, checkpoint);
      if (current === compareGeneration) compareResults.value = found.neighbours;
    } catch (error) {
      if (current === compareGeneration) ui.reportError(`Neighbour search with checkpoint ${checkpoint} failed`, error);
    } finally {
      if (current === compareGeneration) compareLoading.value = false;
    }
  }

  async function query(runId: string, target: Target, label: string): Promise<void> {
    const current = ++generation;
    last = { runId, target };
    loading.value = true;
    queryLabel.value = label;
    const comparison = compare(runId, target);
    try {
      const found = await search(runId, target, space.value === 'random-init' ? RANDOM_INIT_CHECKPOINT : undefined, space.value === 'pixels');
      if (current === generation) {
        results.value = found.neighbours;
        source.value = found.source;
      }
    } catch (error) {
      if (current === generation) {
        results.value = [];
        ui.reportError('Neighbour search failed', error);
      }
    } finally {
      if (current === generation) loading.value = false;
    }
    await comparison;
  }

  function setUploadPreview(url: string | null): void {
    if (uploadPreviewUrl.value) URL.revokeObjectURL(uploadPreviewUrl.value);
    uploadPreviewUrl.value = url;
  }

  function queryRow(runId: string, row: number, label: string): Promise<void> {
    selectedRow.value = row;
    setUploadPreview(null);
    return query(runId, { row }, label);
  }

  /**
   * The map's click (or any view's): search from the image at `relativePath` of the selected run
   * (issue 12 items 6-7). Resolves without searching when the run's map data has no such image.
   */
  function searchFromImage(relativePath: string, runId: string | null = useRunsStore().selectedRunId): Promise<void> {
    const row = useMapStore().items.findIndex((item) => item.relativePath === relativePath);
    if (runId === null || row < 0) return Promise.resolve();
    return queryRow(runId, row, relativePath);
  }

  /** An image from this computer: shrunk in the page when larger than an upload may be, then sent as bytes. */
  async function queryUpload(runId: string, file: File): Promise<void> {
    let base64: string;
    try {
      base64 = await uploadableImage(file, MAX_UPLOAD_BYTES);
    } catch (error) {
      ui.reportError(`Could not read ${file.name}`, error);
      return;
    }
    selectedRow.value = null;
    setUploadPreview(URL.createObjectURL(file));
    return query(runId, { upload: { name: file.name.slice(0, 255) || 'image', base64 } }, file.name);
  }

  function rerun(): Promise<void> {
    if (!last) return Promise.resolve();
    return query(last.runId, last.target, queryLabel.value ?? '');
  }

  /** A new k (1-200) re-runs the current query. */
  function setK(value: number): Promise<void> {
    // The same k again (the input's change on blur) must not re-run: that swaps the list under a click on a neighbour.
    if (!Number.isInteger(value) || value < 1 || value > 200 || value === k.value) return Promise.resolve();
    k.value = value;
    return rerun();
  }

  /** Trained encoder, random start or pixels for the main column; re-runs the current query. */
  function setSpace(value: EmbeddingSpace): Promise<void> {
    space.value = value;
    return rerun();
  }

  /** Chooses the checkpoint to compare with ('' = none) and refreshes the comparison of the current query. */
  function setCompareCheckpoint(checkpoint: string): Promise<void> {
    compareCheckpoint.value = checkpoint;
    if (!last) return Promise.resolve();
    return compare(last.runId, last.target);
  }

  function clear(): void {
    generation++;
    compareGeneration++;
    last = null;
    selectedRow.value = null;
    queryLabel.value = null;
    setUploadPreview(null);
    results.value = [];
    source.value = null;
    loading.value = false;
    space.value = 'trained';
    compareCheckpoint.value = '';
    compareResults.value = [];
    compareLoading.value = false;
  }

  return {
    selectedRow, queryLabel, uploadPreviewUrl, results, source, loading, k, space, compareCheckpoint, compareResults, compareLoading,
    queryRow, searchFromImage, queryUpload, setK, setSpace, setCompareCheckpoint, clear,
  };
});
