/**
 * Neighbour search in the selected run: the clicked row (or an outside image) and its top-k,
 * optionally side by side with the top-k in the embeddings of one of the run's checkpoints.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { Neighbour } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import { useUiStore } from './ui';

type Target = { row: number } | { imagePath: string };

export const useNeighboursStore = defineStore('neighbours', () => {
  const ui = useUiStore();
  const selectedRow = ref<number | null>(null);
  const outsidePath = ref('');
  /** What the results are for: a row of the run, or an outside image path. */
  const queryLabel = ref<string | null>(null);
  const results = ref<Neighbour[]>([]);
  const loading = ref(false);
  const k = ref(12);
  /** A checkpoint file name of the run to compare with; '' = no comparison. */
  const compareCheckpoint = ref('');
  /** The top-k in the compared checkpoint's embeddings (empty without a comparison). */
  const compareResults = ref<Neighbour[]>([]);
  const compareLoading = ref(false);
  let last: { runId: string; target: Target } | null = null;
  // Answers to an older query (or comparison) than the latest are dropped.
  let generation = 0;
  let compareGeneration = 0;

  async function search(runId: string, target: Target, checkpoint?: string): Promise<Neighbour[]> {
    const result = await getApi().invoke('neighbours:query', { runId, k: k.value, ...target, ...(checkpoint ? { checkpoint } : {}) });
    return result.neighbours;
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
      if (current === compareGeneration) compareResults.value = found;
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
      const found = await search(runId, target);
      if (current === generation) results.value = found;
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

  function queryRow(runId: string, row: number, label: string): Promise<void> {
    selectedRow.value = row;
    return query(runId, { row }, label);
  }

  function queryOutside(runId: string): Promise<void> {
    const path = outsidePath.value.trim();
    if (!path) return Promise.resolve();
    selectedRow.value = null;
    return query(runId, { imagePath: path }, path);
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
    results.value = [];
    loading.value = false;
    compareCheckpoint.value = '';
    compareResults.value = [];
    compareLoading.value = false;
  }

  return { selectedRow, outsidePath, queryLabel, results, loading, k, compareCheckpoint, compareResults, compareLoading, queryRow, queryOutside, setCompareCheckpoint, clear };
});
