/** The 2-D PCA map of the selected run's embeddings (also the row -> image list of the run). */
import { defineStore } from 'pinia';
import { markRaw, ref, shallowRef } from 'vue';
import type { InvokeResponse } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import { useUiStore } from './ui';

export type EmbeddingMap = InvokeResponse<'embeddings:map'>;

export const useMapStore = defineStore('map', () => {
  const ui = useUiStore();
  const runId = ref<string | null>(null);
  /** Large arrays: kept raw (never deep-reactive). */
  const data = shallowRef<EmbeddingMap | null>(null);
  const loading = ref(false);
  const problem = ref<string | null>(null);

  async function load(id: string, force = false): Promise<void> {
    if (!force && runId.value === id && data.value) return;
    runId.value = id;
    loading.value = true;
    problem.value = null;
    try {
      const result = await getApi().invoke('embeddings:map', { runId: id });
      if (runId.value === id) data.value = markRaw(result);
    } catch (error) {
      if (runId.value === id) {
        data.value = null;
        problem.value = error instanceof Error ? error.message : String(error);
        ui.reportError('Could not load the embeddings', error);
      }
    } finally {
      if (runId.value === id) loading.value = false;
    }
  }

  function clear(): void {
    runId.value = null;
    data.value = null;
    problem.value = null;
  }

  return { runId, data, loading, problem, load, clear };
});
