/** Another run drawn over the Training view's charts (issue 12 item 5: overlaying runs, as in W&B / TensorBoard). */
import { defineStore } from 'pinia';
import { markRaw, ref, shallowRef } from 'vue';
import type { RunDetails } from '../../../shared/contract';
import { getApi } from '../api/get-api';
import type { SeriesPoint } from '../lib/decimate';
import { useUiStore } from './ui';

export interface OverlayHistory {
  runId: string;
  loss: SeriesPoint[];
  top1: SeriesPoint[];
  embeddingStd: SeriesPoint[];
  knnTop1: SeriesPoint[];
}

export function overlayFrom(details: RunDetails): OverlayHistory {
  return markRaw({
    runId: details.run.id,
    loss: details.metrics.map((m) => ({ x: m.step, y: m.loss })),
    top1: details.metrics.map((m) => ({ x: m.step, y: m.top1 })),
    embeddingStd: details.metrics.map((m) => ({ x: m.step, y: m.embeddingStd })),
    knnTop1: details.epochs.filter((e) => e.knnTop1 !== null).map((e) => ({ x: e.epoch + 1, y: e.knnTop1! })),
  });
}

export const useRunOverlayStore = defineStore('runOverlay', () => {
  const ui = useUiStore();
  const overlay = shallowRef<OverlayHistory | null>(null);
  const selected = ref<string>('');

  async function choose(runId: string): Promise<void> {
    selected.value = runId;
    if (!runId) { overlay.value = null; return; }
    try {
      const details = await getApi().invoke('runs:open', { runId });
      if (selected.value === runId) overlay.value = overlayFrom(details);
    } catch (error) {
      selected.value = '';
      overlay.value = null;
      ui.reportError('Could not overlay the run', error);
    }
  }

  return { overlay, selected, choose };
});
