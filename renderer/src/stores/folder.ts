/** The chosen folder: summary, path completion, suggested settings and the user's edits. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { EventPayload, FolderSummary } from '../../../shared/contract';
import { trainingSettingsSchema, type TrainingSettings } from '../../../shared/training-settings';
import { getApi } from '../api/get-api';
import { useUiStore } from './ui';

export type SettingField = keyof TrainingSettings;

export interface FieldSpec {
  field: SettingField;
  label: string;
  kind: 'int' | 'number' | 'choice';
  choices?: readonly string[];
  help: string;
}

/** The advanced settings form, in the order shown. */
export const SETTING_FIELDS: readonly FieldSpec[] = [
  { field: 'epochs', label: 'Epochs', kind: 'int', help: 'Passes over the folder.' },
  { field: 'batchSize', label: 'Batch size', kind: 'int', help: 'Images per step (2–4096).' },
  { field: 'imageSize', label: 'Image size (px)', kind: 'int', help: 'Square crop size (16–512).' },
  { field: 'architecture', label: 'Architecture', kind: 'choice', choices: ['resnet18', 'resnet34', 'resnet50'], help: 'Encoder backbone.' },
  { field: 'widthMultiplier', label: 'Width multiplier', kind: 'number', help: 'Channel width relative to the standard network (0–4].' },
  { field: 'queueSize', label: 'Queue size K', kind: 'int', help: 'Negative keys kept; a multiple of the batch size.' },
  { field: 'keyMomentum', label: 'Key momentum m', kind: 'number', help: 'Momentum of the key encoder [0, 1).' },
  { field: 'temperature', label: 'Temperature T', kind: 'number', help: 'InfoNCE temperature (0, 10].' },
  { field: 'learningRate', label: 'Learning rate', kind: 'number', help: 'SGD learning rate (0, 10].' },
  { field: 'weightDecay', label: 'Weight decay', kind: 'number', help: '[0, 1].' },
  { field: 'preset', label: 'Preset', kind: 'choice', choices: ['v1', 'v2'], help: 'MoCo v1 or v2 augmentations and schedule.' },
  { field: 'head', label: 'Projection head', kind: 'choice', choices: ['linear', 'mlp'], help: 'Linear (v1) or MLP (v2).' },
  { field: 'bnSplits', label: 'BatchNorm groups', kind: 'int', help: 'Shuffle-BN emulation; must divide the batch.' },
  { field: 'dim', label: 'Embedding dim', kind: 'int', help: 'Output dimension of the head (2–4096).' },
  { field: 'seed', label: 'Seed', kind: 'int', help: 'Random seed.' },
  { field: 'backend', label: 'Backend', kind: 'choice', choices: ['auto', 'webgpu', 'tensorflow', 'wasm', 'cpu'], help: 'Where training runs.' },
  { field: 'previewEvery', label: 'Preview every (steps)', kind: 'int', help: 'Steps between augmentation previews.' },
  { field: 'cropScale', label: 'Smallest crop', kind: 'number', help: 'Smallest random crop, as a fraction of the image area (0–1]; v2: 0.2.' },
  { field: 'jitterStrength', label: 'Colour jitter', kind: 'number', help: 'Colour-jitter strength, a multiple of v2\'s [0, 2].' },
  { field: 'checkpointMinutes', label: 'Checkpoint every (min)', kind: 'number', help: 'Minutes between checkpoints, as well as every epoch: a crash loses at most this much training.' },
  { field: 'workers', label: 'Worker threads', kind: 'int', help: 'Threads that split each batch (wasm); must divide the BatchNorm groups. Default: one per core, at most 4.' },
];

export const useFolderStore = defineStore('folder', () => {
  const ui = useUiStore();
  const summary = ref<FolderSummary | null>(null);
  const loading = ref(false);
  const pathInput = ref('');
  const completions = ref<string[]>([]);
  /** Raw text of each edited field; empty = use the suggestion. */
  const edits = ref<Partial<Record<SettingField, string>>>({});
  /** How many edits were reset because another folder was chosen (0: none); the Folder view says so (issue 12 item 8). */
  const clearedEdits = ref(0);

  const validation = computed(() => {
    const raw: Record<string, unknown> = {};
    const errors: Partial<Record<SettingField, string>> = {};
    for (const spec of SETTING_FIELDS) {
      const text = edits.value[spec.field]?.trim();
      if (!text) continue;
      if (spec.kind === 'choice') raw[spec.field] = text;
      else {
        const value = Number(text);
        if (!Number.isFinite(value)) errors[spec.field] = 'Enter a number';
        else raw[spec.field] = value;
      }
    }
    const parsed = trainingSettingsSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = issue.path[0] as SettingField | undefined;
        if (field && !errors[field]) errors[field] = issue.message;
      }
    }
    const batch = raw.batchSize;
    if (typeof batch === 'number' && summary.value && batch > summary.value.imagesFound && !errors.batchSize) {
      errors.batchSize = `At most the ${summary.value.imagesFound} images in the folder`;
    }
    const valid = Object.keys(errors).length === 0 && parsed.success;
    return { errors, settings: valid ? parsed.data : null };
  });

  /** The folder check's progress while it runs (issue 13 item 8): files and folders listed, then headers read. */
  const scanProgress = ref<EventPayload<'folder:scanning'> | null>(null);

  async function run(action: () => Promise<FolderSummary | null>, title: string): Promise<void> {
    loading.value = true;
    scanProgress.value = null;
    const stopListening = getApi().on('folder:scanning', (progress) => { scanProgress.value = progress; });
    try {
      const result = await action();
      if (result) {
        // Edits were made for the previous folder's suggestions: they do not carry over silently.
        const edited = Object.values(edits.value).filter((v) => v.trim()).length;
        const otherFolder = summary.value !== null && summary.value.path !== result.path;
        if (otherFolder && edited > 0) edits.value = {};
        clearedEdits.value = otherFolder ? edited : clearedEdits.value;
        summary.value = result;
        pathInput.value = result.path;
        completions.value = [];
      }
    } catch (error) {
      ui.reportError(title, error);
    } finally {
      stopListening();
      loading.value = false;
    }
  }

  function choose(path?: string): Promise<void> {
    const request = path?.trim() ? { path: path.trim() } : {};
    return run(() => getApi().invoke('folder:choose', request), 'Could not open the folder');
  }

  function useSample(): Promise<void> {
    return run(() => getApi().invoke('folder:sample', {}), 'Could not prepare the sample images');
  }

  let completionRequest = 0;
  async function complete(partial: string): Promise<void> {
    const id = ++completionRequest;
    if (!partial) { completions.value = []; return; }
    try {
      const result = await getApi().invoke('folder:complete', { partial });
      if (id === completionRequest) completions.value = result.completions.slice(0, 50);
    } catch {
      if (id === completionRequest) completions.value = [];
    }
  }

  function setEdit(field: SettingField, value: string): void {
    edits.value = { ...edits.value, [field]: value };
    clearedEdits.value = 0;
  }

  function resetEdits(): void {
    edits.value = {};
    clearedEdits.value = 0;
  }

  return { summary, loading, scanProgress, pathInput, completions, edits, clearedEdits, validation, choose, useSample, complete, setEdit, resetEdits };
});
