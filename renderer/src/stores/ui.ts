/** Navigation and the error banner: one place where every view reports what went wrong. */
import { defineStore } from 'pinia';
import { ref, watch } from 'vue';
import { errorCode, errorMessage } from '../api/api-error';

export const VIEWS = ['folder', 'training', 'neighbours', 'map', 'runs', 'backends'] as const;
export type ViewName = (typeof VIEWS)[number];

export interface Banner {
  id: number;
  title: string;
  message: string;
  /** What to do about it. */
  hint: string | null;
  kind: 'error' | 'warning' | 'info';
  /** A run id that can be resumed from its last checkpoint (trainer crash). */
  resumeRunId: string | null;
  /** Stays when the view changes (the connection banner, a crash with Resume); others belong to the view they were raised in. */
  sticky: boolean;
}

/** At most this many banners at once (issue 12 item 8: they piled up). */
const MAX_BANNERS = 3;

const HINTS: Record<string, string> = {
  'invalid-request': 'Check the values you entered; the message names the field.',
  'unauthorized': 'Open the full address printed by "moco-studio serve", including ?token=.',
  'disconnected': 'Make sure the server is still running; the page reconnects by itself.',
  'not-found': 'It may have been deleted or moved; refresh the list.',
  'busy': 'Wait for the current run to finish, or stop it first.',
};

export const useUiStore = defineStore('ui', () => {
  const view = ref<ViewName>('folder');
  const banners = ref<Banner[]>([]);
  let nextId = 1;

  function show(banner: Omit<Banner, 'id' | 'hint' | 'resumeRunId' | 'kind' | 'sticky'> & Partial<Pick<Banner, 'hint' | 'resumeRunId' | 'kind' | 'sticky'>>): number {
    // The same problem reported twice stays one banner; a newer message of the same kind replaces the older one.
    const existing = banners.value.find((b) => b.title === banner.title && b.message === banner.message);
    if (existing) return existing.id;
    const id = nextId++;
    const next: Banner = { id, kind: 'error', hint: null, resumeRunId: null, sticky: banner.resumeRunId != null, ...banner };
    banners.value = [...banners.value.filter((b) => b.title !== banner.title), next].slice(-MAX_BANNERS);
    return id;
  }

  // A banner belongs to the view it was raised in: moving on clears it (issue 12 item 8: they followed you).
  watch(view, () => { banners.value = banners.value.filter((b) => b.sticky); });

  function reportError(title: string, error: unknown): void {
    const code = errorCode(error);
    // The connection banner already says this.
    if (code === 'not-connected' || code === 'unauthorized') return;
    show({ title, message: errorMessage(error), hint: HINTS[code] ?? null });
  }

  function dismiss(id: number): void {
    banners.value = banners.value.filter((b) => b.id !== id);
  }

  return { view, banners, show, reportError, dismiss };
});
