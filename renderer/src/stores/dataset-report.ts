/**
 * The dataset report (issue 12 item 1): every skipped file with its reason, for the chosen folder
 * (from its folder check) or for a run (its skipped.json, via runs:dataset). One dialog shows it,
 * opened from the Folder view, the Training view and the Runs list.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { getApi } from '../api/get-api';
import { useUiStore } from './ui';

export interface DatasetReport {
  readonly title: string;
  /** One line on what was counted, e.g. "1 image usable, 3 files skipped". */
  readonly summary: string;
  readonly skipped: readonly { path: string; reason: string }[];
}

export const useDatasetReportStore = defineStore('datasetReport', () => {
  const ui = useUiStore();
  const report = ref<DatasetReport | null>(null);

  function show(value: DatasetReport): void {
    report.value = value;
  }

  async function openRun(runId: string): Promise<void> {
    try {
      const { count, skipped } = await getApi().invoke('runs:dataset', { runId });
      report.value = { title: `Dataset report of run ${runId}`, summary: `${count} file${count === 1 ? '' : 's'} skipped by the trainer`, skipped };
    } catch (error) {
      ui.reportError('Could not open the dataset report', error);
    }
  }

  function close(): void {
    report.value = null;
  }

  return { report, show, openRun, close };
});
