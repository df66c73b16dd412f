/**
 * The preload: exposes exactly the contract as `window.api`, nothing else. Runs sandboxed, so it
 * is bundled into one file (npm run build:electron); channel names are checked here too, so a
 * compromised renderer cannot reach any other IPC channel.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { EVENT_CHANNELS, INVOKE_CHANNELS, type EventChannel, type MocoApi } from '../../shared/contract.js';

const invokeChannels = new Set<string>(INVOKE_CHANNELS);
const eventChannels = new Set<string>(EVENT_CHANNELS);

const api: MocoApi = {
  invoke: async (channel, request) => {
    if (!invokeChannels.has(channel)) throw new Error(`Unknown channel "${channel}"`);
    const reply = (await ipcRenderer.invoke('moco:invoke', channel, request)) as { ok: true; response: never } | { ok: false; error: { code: string; message: string } };
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.response;
  },
  on: (channel: EventChannel, listener) => {
    if (!eventChannels.has(channel)) throw new Error(`Unknown event "${channel}"`);
    const handler = (_event: IpcRendererEvent, name: string, payload: unknown): void => {
      if (name === channel) (listener as (p: unknown) => void)(payload);
    };
    ipcRenderer.on('moco:event', handler);
    return () => { ipcRenderer.off('moco:event', handler); };
  },
  pathForFile: (file) => (file instanceof File ? webUtils.getPathForFile(file) || null : null),
  imageUrl: (folderId, relativePath) => `moco://images/${encodeURIComponent(folderId)}/${relativePath.split('/').map(encodeURIComponent).join('/')}`,
};

contextBridge.exposeInMainWorld('api', api);
