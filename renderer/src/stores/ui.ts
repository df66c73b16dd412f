/** Navigation and the error banner: one place where every view reports what went wrong. */
import { defineStore } from 'pinia';
import { ref } from 'vue';
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
}

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

  function show(banner: Omit<Banner, 'id' | 'hint' | 'resumeRunId' | 'kind'> & Partial<Pick<Banner, 'hint' | 'resumeRunId' | 'kind'>>): number {
    // The same problem reported twice stays one banner.
    const existing = banners.value.find((b) => b.title === banner.title && b.message === banner.message);
    if (existing) return existing.id;
    const id = nextId++;
    banners.value.push({ id, kind: 'error', hint: null, resumeRunId: null, ...banner });
    if (banners.value.length > 4) banners.value.shift();
    return id;
  }

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
