/**
 * The single IPC gateway: one `moco:invoke` handler that drops any sender that is not our own
 * app page, then dispatches through the contract (validation, error envelope) exactly as the
 * WebSocket server does. Events go to the app window only.
 */
import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import { APP_ORIGIN } from './protocol.js';

export type Dispatch = (channel: string, request: unknown) => Promise<unknown>;

export function isTrustedSender(event: IpcMainInvokeEvent, window: BrowserWindow): boolean {
  const frame = event.senderFrame;
  // Compare scheme and host, not URL.origin: for a non-special scheme like moco: origin is 'null'.
  return event.sender.id === window.webContents.id && frame !== null && frame === event.sender.mainFrame && frame.url.startsWith(`${APP_ORIGIN}/`);
}

export function registerIpc(window: BrowserWindow, dispatch: Dispatch): void {
  ipcMain.handle('moco:invoke', async (event, channel: unknown, request: unknown) => {
    if (!isTrustedSender(event, window)) return { ok: false, error: { code: 'forbidden', message: 'IPC from an untrusted sender' } };
    if (typeof channel !== 'string') return { ok: false, error: { code: 'invalid-request', message: 'channel must be a string' } };
    return dispatch(channel, request);
  });
}

export function sendEvent(window: BrowserWindow, channel: string, payload: unknown): void {
  if (!window.isDestroyed()) window.webContents.send('moco:event', channel, payload);
}
