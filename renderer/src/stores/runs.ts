/** Past runs: list, open, resume, delete, export; and which run Neighbours and Map look at. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { RunListItem } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import { useTrainingStore } from './training';
import { useUiStore } from './ui';


export const useRunsStore = defineStore('runs', () => {
  const ui = useUiStore();
  const runs = ref<RunListItem[]>([]);
  const loading = ref(false);
  /** The list has been read at least once (the Folder view's first-start welcome waits for it). */
  const loaded = ref(false);
  /** The run whose embeddings Neighbours and Map show. */
  const selectedRunId = ref<string | null>(null);

  const selectedRun = computed(() => runs.value.find((r) => r.id === selectedRunId.value) ?? null);
  /** Runs with a checkpoint, newest first: the ones that can be explored. */
  const explorable = computed(() => runs.value.filter((r) => r.checkpoints.length > 0 || r.hasEmbeddings));

  async function refresh(): Promise<void> {
    loading.value = true;
    try {
      const result = await getApi().invoke('runs:list', {});
      runs.value = [...result.runs].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      loaded.value = true;
      if (selectedRunId.value === null || !runs.value.some((r) => r.id === selectedRunId.value)) {
        selectedRunId.value = explorable.value[0]?.id ?? null;
      }
    } catch (error) {
      ui.reportError('Could not list the runs', error);
    } finally {
      loading.value = false;
    }
  }

  let subscribed = false;
  function subscribe(): void {
    if (subscribed) return;
    subscribed = true;
    getApi().on('runs:changed', () => { void refresh(); });
  }

  function select(runId: string): void {
    selectedRunId.value = runId;
  }

  async function open(runId: string): Promise<void> {
    try {
      const details = await getApi().invoke('runs:open', { runId });
      select(runId);
      useTrainingStore().showDetails(details);
      ui.view = 'training';
    } catch (error) {
      ui.reportError('Could not open the run', error);
    }
  }

  async function remove(runId: string): Promise<void> {
    try {
      await getApi().invoke('runs:delete', { runId });
      if (selectedRunId.value === runId) selectedRunId.value = null;
      await refresh();
    } catch (error) {
      ui.reportError('Could not delete the run', error);
    }
  }

  const importing = ref(false);

  /** A PyTorch checkpoint as a new run embedding `folderId` (issue 11); it becomes the explored run. */
  async function importCheckpoint(path: string, folderId: string): Promise<boolean> {
    importing.value = true;
    try {
      const result = await getApi().invoke('runs:import', { path, folderId });
      await refresh();
      select(result.runId);
      ui.show({ kind: 'info', title: `Imported ${result.architecture}`, message: `${result.layout} layout, ${result.format} format: run ${result.runId}` });
      return true;
    } catch (error) {
      ui.reportError('Import failed', error);
      return false;
    } finally {
      importing.value = false;
    }
  }

  return { runs, loading, loaded, selectedRunId, selectedRun, explorable, importing, refresh, subscribe, select, open, remove, importCheckpoint };
});
