/**
 * The active run as the trainer reports it: state, progress, decimated metric history, epochs,
 * augmentation previews, warnings and errors. Owns the `training:event` subscription.
 * Metric series live outside Vue's reactivity (plain arrays, `markRaw`): charts copy them on
 * each `revision` bump, so Chart.js never walks a reactive proxy and updates stay cheap.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, ref, shallowRef } from 'vue';
import type { EventPayload, RunDetails } from '../../../shared/contract';
import type { ResolvedSettings, TrainingSettings } from '../../../shared/training-settings';
import type { TrainerEventOf } from '../../../shared/trainer-protocol';
import { errorMessage } from '../api/api-error';
import { getApi } from '../api/get-api';
import { appendDecimated, type SeriesPoint } from '../lib/decimate';
import { useRunsStore } from './runs';
import { useUiStore } from './ui';

export type RunState = 'idle' | 'starting' | 'loading' | 'training' | 'paused' | 'stopping' | 'finished' | 'stopped' | 'failed' | 'crashed';

export interface MetricHistory {
  loss: SeriesPoint[];
  top1: SeriesPoint[];
  top5: SeriesPoint[];
  learningRate: SeriesPoint[];
  embeddingStd: SeriesPoint[];
  knnTop1: SeriesPoint[];
  knnTop5: SeriesPoint[];
}

function emptyHistory(): MetricHistory {
  return markRaw({ loss: [], top1: [], top5: [], learningRate: [], embeddingStd: [], knnTop1: [], knnTop5: [] });
}

const CRASH_CODES = new Set(['crashed', 'out-of-memory']);

export const useTrainingStore = defineStore('training', () => {
  const ui = useUiStore();
  const runId = ref<string | null>(null);
  const state = ref<RunState>('idle');
  const backend = ref<TrainerEventOf<'backend'> | null>(null);
  const settings = ref<{ settings: ResolvedSettings; reasons: Record<string, string>; adjustments: TrainerEventOf<'settings'>['adjustments'] } | null>(null);
  const dataset = ref<TrainerEventOf<'dataset'> | null>(null);
  const loadingProgress = ref<{ done: number; total: number } | null>(null);
  const progress = ref<TrainerEventOf<'progress'> | null>(null);
  const epochs = ref<TrainerEventOf<'epoch'>[]>([]);
  const previews = shallowRef<TrainerEventOf<'preview'> | null>(null);
  const warnings = ref<string[]>([]);
  const errors = ref<{ code: string; message: string }[]>([]);
  const summary = ref<TrainerEventOf<'done'>['summary'] | null>(null);
  /** kNN of raw pixels and of the random-init encoder on the monitor's images (issue 10). */
  const baselines = ref<TrainerEventOf<'baselines'> | null>(null);
  /** Set when the progress signal stopped improving; the view offers to stop. */
  const plateau = ref<TrainerEventOf<'plateau'> | null>(null);
  const lastCheckpoint = ref<TrainerEventOf<'checkpoint'> | null>(null);
  const history = shallowRef<MetricHistory>(emptyHistory());
  /** Bumped whenever `history` changes; charts watch it. */
  const revision = ref(0);
  const busy = ref(false);

  const active = computed(() => ['starting', 'loading', 'training', 'paused', 'stopping'].includes(state.value));
  const chanceLoss = computed(() => (settings.value ? Math.log(settings.value.settings.queueSize + 1) : null));
  const stdReference = computed(() => (settings.value ? 1 / Math.sqrt(settings.value.settings.dim) : null));
  const hasClasses = computed(() => (dataset.value?.classes.length ?? 0) > 1);

  function reset(id: string | null): void {
    runId.value = id;
    backend.value = null;
    settings.value = null;
    dataset.value = null;
    loadingProgress.value = null;
    progress.value = null;
    epochs.value = [];
    previews.value = null;
    warnings.value = [];
    errors.value = [];
    summary.value = null;
    baselines.value = null;
    plateau.value = null;
    lastCheckpoint.value = null;
    history.value = emptyHistory();
    revision.value++;
  }

  function handle(payload: EventPayload<'training:event'>): void {
    if (payload.runId !== runId.value) {
      // A run started elsewhere (another window, a resume): follow it.
      reset(payload.runId);
      state.value = 'loading';
    }
    const event = payload.event;
    switch (event.type) {
      case 'backend': backend.value = event; break;
      case 'settings': settings.value = { settings: event.settings, reasons: event.reasons, adjustments: event.adjustments }; break;
      case 'loading': loadingProgress.value = { done: event.done, total: event.total }; if (state.value === 'starting') state.value = 'loading'; break;
      case 'dataset': dataset.value = event; break;
      case 'progress': progress.value = event; break;
      case 'metrics': {
        const h = history.value;
        const x = event.globalStep;
        appendDecimated(h.loss, { x, y: event.metrics.loss });
        appendDecimated(h.top1, { x, y: event.metrics.top1 });
        appendDecimated(h.top5, { x, y: event.metrics.top5 });
        appendDecimated(h.learningRate, { x, y: event.metrics.learningRate });
        appendDecimated(h.embeddingStd, { x, y: event.metrics.embeddingStd });
        revision.value++;
        break;
      }
      case 'epoch': {
        epochs.value = [...epochs.value, event];
        if (event.knnTop1 !== null) history.value.knnTop1.push({ x: event.epoch + 1, y: event.knnTop1 });
        if (event.knnTop5 !== null) history.value.knnTop5.push({ x: event.epoch + 1, y: event.knnTop5 });
        revision.value++;
        break;
      }
      case 'preview': previews.value = markRaw(event); break;
      case 'checkpoint': lastCheckpoint.value = event; break;
      case 'baselines': baselines.value = event; break;
      case 'plateau': plateau.value = event; break;
      case 'state': state.value = event.state; break;
      case 'warning': warnings.value = [...warnings.value.slice(-19), event.message]; break;
      case 'error': {
        errors.value = [...errors.value, { code: event.code, message: event.message }];
        const crashed = CRASH_CODES.has(event.code);
        if (crashed) state.value = 'crashed';
        ui.show({
          title: crashed ? 'Training stopped unexpectedly' : 'Training error',
          message: event.message,
          hint: crashed ? 'Resume continues from the last checkpoint.' : 'Adjust the settings or the folder and start again.',
          resumeRunId: crashed ? payload.runId : null,
        });
        break;
      }
      case 'done': {
        summary.value = event.summary;
        state.value = event.reason;
        void useRunsStore().refresh();
        if (event.reason !== 'failed') useRunsStore().select(payload.runId);
        break;
      }
      default: break;
    }
  }

  let subscribed = false;
  function subscribe(): void {
    if (subscribed) return;
    subscribed = true;
    getApi().on('training:event', handle);
  }

  async function command(action: () => Promise<unknown>, title: string): Promise<void> {
    busy.value = true;
    try { await action(); } catch (error) { ui.reportError(title, error); } finally { busy.value = false; }
  }

  async function start(folderId: string, userSettings: TrainingSettings): Promise<void> {
    reset(null);
    state.value = 'starting';
    busy.value = true;
    try {
      const result = await getApi().invoke('training:start', { folderId, settings: userSettings });
      if (runId.value !== result.runId) {
        // Events may have arrived before the answer; keep them.
        if (runId.value === null) runId.value = result.runId;
      }
    } catch (error) {
      state.value = 'idle';
      ui.show({ title: 'Could not start training', message: errorMessage(error), hint: 'Check the advanced settings and the folder.' });
    } finally {
      busy.value = false;
    }
  }

  const pause = (): Promise<void> => command(() => getApi().invoke('training:pause', {}), 'Could not pause');
  const resume = (): Promise<void> => command(() => getApi().invoke('training:resume', {}), 'Could not resume');
  const stop = (): Promise<void> => command(() => getApi().invoke('training:stop', {}), 'Could not stop');

  async function resumeRun(id: string): Promise<void> {
    reset(id);
    state.value = 'starting';
    await command(() => getApi().invoke('runs:resume', { runId: id }), 'Could not resume the run');
    ui.view = 'training';
  }

  /** Shows a finished run's recorded history (runs:open) in the training charts. */
  function showDetails(details: RunDetails): void {
    if (active.value) return;
    reset(details.run.id);
    const h = history.value;
    for (const m of details.metrics) {
      appendDecimated(h.loss, { x: m.step, y: m.loss });
      appendDecimated(h.top1, { x: m.step, y: m.top1 });
      appendDecimated(h.top5, { x: m.step, y: m.top5 });
      appendDecimated(h.learningRate, { x: m.step, y: m.learningRate });
      appendDecimated(h.embeddingStd, { x: m.step, y: m.embeddingStd });
    }
    for (const e of details.epochs) {
      if (e.knnTop1 !== null) h.knnTop1.push({ x: e.epoch + 1, y: e.knnTop1 });
      if (e.knnTop5 !== null) h.knnTop5.push({ x: e.epoch + 1, y: e.knnTop5 });
    }
    epochs.value = details.epochs.map((e) => ({ type: 'epoch' as const, ...e, seconds: 0 }));
    const s = details.run.summary;
    if (s && typeof s.knnTop1Pixels === 'number') baselines.value = { type: 'baselines', knnTop1Pixels: s.knnTop1Pixels, knnTop1RandomInit: typeof s.knnTop1AtStart === 'number' ? s.knnTop1AtStart : null };
    if (details.run.settings) settings.value = { settings: details.run.settings, reasons: {}, adjustments: [] };
    const status = details.run.status;
    state.value = status === 'created' || status === 'training' ? 'idle' : status;
    revision.value++;
  }

  return {
    runId, state, backend, settings, dataset, loadingProgress, progress, epochs, previews, warnings, errors, summary, baselines, plateau,
    lastCheckpoint, history, revision, busy, active, chanceLoss, stdReference, hasClasses,
    subscribe, start, pause, resume, stop, resumeRun, showDetails,
  };
});
