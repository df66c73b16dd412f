/**
 * The active run as the trainer reports it: state, progress, decimated metric history, epochs,
 * augmentation previews, warnings and errors. Owns the `training:event` subscription.
 * Metric series live outside Vue's reactivity (plain arrays, `markRaw`): charts copy them on
 * each `revision` bump, so Chart.js never walks a reactive proxy and updates stay cheap.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, ref, shallowRef } from 'vue';
import type { EventPayload, MetricPoint, RunDetails } from '../../../shared/contract';
import type { ResolvedSettings, TrainingSettings } from '../../../shared/training-settings';
import type { TrainerEventOf } from '../../../shared/trainer-protocol';
import { errorMessage } from '../api/api-error';
import { getApi } from '../api/get-api';
import { appendDecimated, type SeriesPoint } from '../lib/decimate';
import { useFolderStore } from './folder';
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
  /** Share of the queue holding real keys (issue 12 item 5: the queue-filling phase is marked). */
  queueFill: SeriesPoint[];
}

function emptyHistory(): MetricHistory {
  return markRaw({ loss: [], top1: [], top5: [], learningRate: [], embeddingStd: [], knnTop1: [], knnTop5: [], queueFill: [] });
}

type StepValues = Pick<MetricPoint, 'loss' | 'top1' | 'top5' | 'learningRate' | 'embeddingStd' | 'queueFill'>;

/**
 * Appends one step to every step series. A step at or before the newest one (a reloaded page
 * replaying what it read from disk, or a resume that re-trains steps after its checkpoint)
 * first drops the points from that step on, so no step is drawn twice.
 */
function appendStep(h: MetricHistory, x: number, m: StepValues): void {
  const series = [h.loss, h.top1, h.top5, h.learningRate, h.embeddingStd, h.queueFill];
  const last = h.loss[h.loss.length - 1];
  if (last && x <= last.x) for (const s of series) { const keep = s.findIndex((p) => p.x >= x); if (keep >= 0) s.splice(keep); }
  appendDecimated(h.loss, { x, y: m.loss });
  appendDecimated(h.top1, { x, y: m.top1 });
  appendDecimated(h.top5, { x, y: m.top5 });
  appendDecimated(h.learningRate, { x, y: m.learningRate });
  appendDecimated(h.embeddingStd, { x, y: m.embeddingStd });
  if (m.queueFill !== undefined) appendDecimated(h.queueFill, { x, y: m.queueFill });
}

const CRASH_CODES = new Set(['crashed', 'out-of-memory']);

export const useTrainingStore = defineStore('training', () => {
  const ui = useUiStore();
  const runId = ref<string | null>(null);
  /** The image folder of the run shown (issue 12 item 8: the view names it). */
  const folder = ref<string | null>(null);
  const state = ref<RunState>('idle');
  const backend = ref<TrainerEventOf<'backend'> | null>(null);
  const settings = ref<{ settings: ResolvedSettings; reasons: Record<string, string>; adjustments: TrainerEventOf<'settings'>['adjustments'] } | null>(null);
  const dataset = ref<TrainerEventOf<'dataset'> | null>(null);
  const loadingProgress = ref<{ done: number; total: number } | null>(null);
  /** The trainer's folder scan (issue 13 item 8): skipped when the folder check's scan is reused. */
  const scanProgress = ref<{ files: number; folders: number; done: boolean; reused: boolean } | null>(null);
  const progress = ref<TrainerEventOf<'progress'> | null>(null);
  const epochs = ref<TrainerEventOf<'epoch'>[]>([]);
  const previews = shallowRef<TrainerEventOf<'preview'> | null>(null);
  const warnings = ref<string[]>([]);
  const errors = ref<{ code: string; message: string }[]>([]);
  const summary = ref<TrainerEventOf<'done'>['summary'] | null>(null);
  /** Why a reopened run failed (run.json's message); a live failure says it in its banner instead, once. */
  const recordedFailure = ref<string | null>(null);
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
    folder.value = null;
    backend.value = null;
    settings.value = null;
    dataset.value = null;
    loadingProgress.value = null;
    scanProgress.value = null;
    progress.value = null;
    epochs.value = [];
    previews.value = null;
    warnings.value = [];
    errors.value = [];
    summary.value = null;
    recordedFailure.value = null;
    baselines.value = null;
    plateau.value = null;
    lastCheckpoint.value = null;
    history.value = emptyHistory();
    revision.value++;
  }

  function handle(payload: EventPayload<'training:event'>): void {
    if (payload.runId !== runId.value) {
      if (runId.value === null && state.value === 'starting') runId.value = payload.runId; // ours, before training:start answered
      else {
        // A run started elsewhere (another window, the CLI's server): follow it, with its history and folder.
        reset(payload.runId);
        state.value = 'loading';
        void hydrate();
      }
    }
    const event = payload.event;
    switch (event.type) {
      case 'backend': backend.value = event; break;
      case 'settings': settings.value = { settings: event.settings, reasons: event.reasons, adjustments: event.adjustments }; break;
      case 'scanning': scanProgress.value = { files: event.files, folders: event.folders, done: event.done, reused: event.reused }; if (state.value === 'starting') state.value = 'loading'; break;
      case 'loading': loadingProgress.value = { done: event.done, total: event.total }; if (state.value === 'starting') state.value = 'loading'; break;
      case 'dataset': dataset.value = event; break;
      case 'progress': progress.value = event; break;
      case 'metrics': {
        appendStep(history.value, event.globalStep, event.metrics);
        revision.value++;
        break;
      }
      case 'epoch': {
        addEpoch(event);
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
          sticky: true, // about the run, wherever the user is
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

  /** One row per epoch (a replayed epoch replaces its row), and the kNN points. */
  function addEpoch(event: TrainerEventOf<'epoch'>): void {
    epochs.value = [...epochs.value.filter((e) => e.epoch < event.epoch), event];
    const h = history.value;
    for (const s of [h.knnTop1, h.knnTop5]) { const keep = s.findIndex((p) => p.x >= event.epoch + 1); if (keep >= 0) s.splice(keep); }
    if (event.knnTop1 !== null) h.knnTop1.push({ x: event.epoch + 1, y: event.knnTop1 });
    if (event.knnTop5 !== null) h.knnTop5.push({ x: event.epoch + 1, y: event.knnTop5 });
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

  async function start(folderId: string, userSettings: TrainingSettings, folderPath: string | null = null): Promise<void> {
    reset(null);
    folder.value = folderPath;
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
    // The history so far first: a resumed run's charts start at step 1, not at the resume (issue 12 item 2).
    try { loadDetails(await getApi().invoke('runs:open', { runId: id })); } catch { reset(id); }
    state.value = 'starting';
    summary.value = null;
    ui.view = 'training';
    await command(() => getApi().invoke('runs:resume', { runId: id }), 'Could not resume the run');
  }

  /** Everything a run's files say (runs:open): history, settings, baselines, backend, preview, summary, progress. */
  function loadDetails(details: RunDetails): void {
    reset(details.run.id);
    folder.value = details.run.folder;
    const h = history.value;
    for (const m of details.metrics) appendStep(h, m.step, m);
    for (const e of details.epochs) addEpoch({ type: 'epoch', ...e, seconds: 0 });
    const s = details.run.summary as Partial<TrainerEventOf<'done'>['summary']> | null;
    const recorded = details.baselines ?? (s && typeof s.knnTop1Pixels === 'number' ? { knnTop1Pixels: s.knnTop1Pixels, knnTop1RandomInit: s.knnTop1AtStart ?? null } : null);
    if (recorded) baselines.value = { type: 'baselines', ...recorded };
    if (details.run.settings) settings.value = { settings: details.run.settings, reasons: {}, adjustments: [] };
    const recordedBackend = details.backend ?? (typeof s?.backend === 'string' && ['webgpu', 'tensorflow', 'wasm', 'cpu'].includes(s.backend) ? { name: s.backend as TrainerEventOf<'backend'>['name'], adapter: s.backendAdapter ?? null } : null);
    if (recordedBackend) backend.value = { type: 'backend', name: recordedBackend.name, attempts: [], adapter: recordedBackend.adapter ?? null };
    if (details.preview) previews.value = markRaw(details.preview);
    const last = details.metrics[details.metrics.length - 1];
    const runSettings = details.run.settings;
    if (last && runSettings && details.stepsPerEpoch) {
      const perEpoch = details.stepsPerEpoch;
      progress.value = {
        type: 'progress', epoch: last.epoch, epochs: runSettings.epochs, step: last.step - last.epoch * perEpoch, stepsPerEpoch: perEpoch,
        globalStep: last.step, totalSteps: perEpoch * runSettings.epochs, imagesPerSecond: typeof s?.imagesPerSecond === 'number' ? s.imagesPerSecond : 0, etaSeconds: 0,
      };
    }
    if (typeof s?.imagesUsed === 'number') {
      dataset.value = { type: 'dataset', found: s.imagesUsed + (s.imagesSkipped ?? 0), used: s.imagesUsed, fromCache: 0, skipped: [], classes: epochs.value.find((e) => e.confusion)?.confusion?.classes ?? [] };
    }
    const status = details.run.status;
    recordedFailure.value = status === 'failed' ? details.run.message : null;
    if (s && (status === 'finished' || status === 'stopped') && typeof s.steps === 'number') summary.value = s as TrainerEventOf<'done'>['summary'];
    state.value = status === 'created' || status === 'training' ? 'idle' : status;
    revision.value++;
  }

  /** Shows a past run (Runs -> Open); the run training now keeps the view. */
  function showDetails(details: RunDetails): void {
    if (active.value) return;
    loadDetails(details);
  }

  /**
   * Rebuilds the view from the server after a (re)load or reconnect: the active run's history
   * from its files and the latest state, backend, progress, preview... (training:status). When
   * nothing trains but the view showed a run as active, that run ended meanwhile: reopen it.
   */
  async function hydrate(): Promise<void> {
    try {
      const status = await getApi().invoke('training:status', {});
      if (status.runId !== null) {
        const details = await getApi().invoke('runs:open', { runId: status.runId });
        loadDetails(details);
        state.value = 'loading';
        for (const event of status.events) handle({ runId: status.runId, event });
        // A page opened mid-run shows the run, and the Folder view its folder (issue 12 item 2: "the folder is forgotten").
        if (ui.view === 'folder') ui.view = 'training';
        const folderStore = useFolderStore();
        if (!folderStore.summary && !folderStore.loading) void folderStore.choose(details.run.folder);
      } else if (runId.value !== null && active.value) {
        loadDetails(await getApi().invoke('runs:open', { runId: runId.value }));
      }
    } catch (error) {
      ui.reportError('Could not read the training state', error);
    }
  }

  return {
    runId, folder, state, backend, settings, dataset, loadingProgress, scanProgress, progress, epochs, previews, warnings, errors, summary, recordedFailure, baselines, plateau,
    lastCheckpoint, history, revision, busy, active, chanceLoss, stdReference, hasClasses,
    subscribe, start, pause, resume, stop, resumeRun, showDetails, hydrate,
  };
});
