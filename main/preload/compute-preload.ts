/**
 * The compute renderer's preload (issue 8): exposes nothing. It only hands each MessagePort the
 * main process sends on 'moco:compute-port' to the page (main/compute-page/electron-entry.ts),
 * the documented way to give a context-isolated page a port. The page then speaks only the
 * compute protocol on that port; it has no window.api and no other IPC.
 */
import { ipcRenderer } from 'electron';

const COMPUTE_PORT_MESSAGE = 'moco:compute-port'; // = electron-entry.ts COMPUTE_PORT_MESSAGE

/** The page's window as far as the preload uses it (the preload is type-checked without DOM). */
interface PageWindow { postMessage(message: string, targetOrigin: string, transfer: readonly unknown[]): void }
const page = globalThis as unknown as PageWindow;

ipcRenderer.on(COMPUTE_PORT_MESSAGE, (event) => {
  // To this window only (the page checks event.source); moco: pages have the opaque origin 'null'.
  page.postMessage(COMPUTE_PORT_MESSAGE, '*', event.ports);
});
