/** Neighbour search in the selected run: the clicked row (or an outside image) and its top-k. */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { Neighbour } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import { useUiStore } from './ui';

export const useNeighboursStore = defineStore('neighbours', () => {
  const ui = useUiStore();
  const selectedRow = ref<number | null>(null);
  const outsidePath = ref('');
  /** What the results are for: a row of the run, or an outside image path. */
  const queryLabel = ref<string | null>(null);
  const results = ref<Neighbour[]>([]);
  const loading = ref(false);
  const k = ref(12);

  async function query(runId: string, target: { row: number } | { imagePath: string }, label: string): Promise<void> {
    loading.value = true;
    queryLabel.value = label;
    try {
      const result = await getApi().invoke('neighbours:query', { runId, k: k.value, ...target });
      results.value = result.neighbours;
    } catch (error) {
      results.value = [];
      ui.reportError('Neighbour search failed', error);
    } finally {
      loading.value = false;
    }
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

  function clear(): void {
    selectedRow.value = null;
    queryLabel.value = null;
    results.value = [];
  }

  return { selectedRow, outsidePath, queryLabel, results, loading, k, queryRow, queryOutside, clear };
});
