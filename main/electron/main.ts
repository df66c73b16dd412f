/**
 * Electron main process: wiring only. The app core (main/core) does the work; this file gives
 * it a window, a native folder dialog, the moco:// scheme and a utilityProcess for training.
 * Cannot run on the development machines (no Electron binary): kept thin, typed, and scanned by
 * electronegativity in CI.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog } from 'electron';
import { AppCore } from '../core/app-core.js';
import { dispatchInvoke } from '../core/dispatch.js';
import { registerIpc, sendEvent } from './ipc.js';
import { handleScheme, registerSchemePrivileges } from './protocol.js';
import { ComputeWindow } from './compute-window.js';
import { forkUtilityTrainer } from './utility-trainer.js';
import { createMainWindow, denyAllPermissions, hardenWebContents } from './window.js';

// Bundled layout (npm run build:electron): dist/electron/main.js, dist/electron/preload.cjs,
// dist/trainer/entry.js, dist/renderer/.
const here = dirname(fileURLToPath(import.meta.url));
const PRELOAD = join(here, 'preload.cjs');
const COMPUTE_PRELOAD = join(here, 'compute-preload.cjs');
const RENDERER = join(here, '..', 'renderer');
const TRAINER_ENTRY = join(here, '..', 'trainer', 'entry.js');

registerSchemePrivileges();
app.enableSandbox();
// Chromium ships WebGPU on Windows, macOS and ChromeOS; on Linux it is still behind this switch
// (issue 8: the compute renderer is the desktop app's GPU route). Pages get no other new power.
if (process.platform === 'linux') app.commandLine.appendSwitch('enable-unsafe-webgpu');
const primaryInstance = app.requestSingleInstanceLock();
if (!primaryInstance) app.quit();

app.on('web-contents-created', (_event, contents) => { hardenWebContents(contents); });

async function start(): Promise<void> {
  await app.whenReady();
  denyAllPermissions();
  let window: BrowserWindow | null = null;
  const compute = new ComputeWindow(COMPUTE_PRELOAD);
  const core = new AppCore({
    dataDirectory: app.getPath('userData'),
    transport: 'electron',
    pickFolder: async () => {
      const options = { title: 'Choose a folder of images', properties: ['openDirectory' as const] };
      const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
      return result.canceled ? null : (result.filePaths[0] ?? null);
    },
    // Every trainer gets a channel to the compute renderer; it is used when the run's backend is webgpu.
    forkTrainer: () => forkUtilityTrainer(TRAINER_ENTRY, compute.connect()),
  });
  handleScheme(RENDERER, (folderId, relativePath) => core.resolveImage(folderId, relativePath), (folderId, relativePath, size) => core.thumbnail(folderId, relativePath, size));
  window = createMainWindow(PRELOAD);
  const target = window;
  // The hidden compute window must not keep the app alive once the app window is closed.
  target.on('closed', () => { compute.close(); });
  registerIpc(target, (channel, request) => dispatchInvoke(core, channel, request));
  core.onEvent((channel, payload) => { sendEvent(target, channel, payload); });
  app.on('second-instance', () => {
    if (target.isMinimized()) target.restore();
    target.focus();
  });
  // Stop training with a checkpoint first, however the app is quit (window closed, Cmd+Q, menu):
  // a closed app never loses a run.
  let shutDown = false;
  app.on('before-quit', (event) => {
    if (shutDown) return;
    event.preventDefault();
    void core.shutdown().finally(() => {
      shutDown = true;
      app.quit();
    });
  });
  app.on('window-all-closed', () => { app.quit(); });
  app.on('will-quit', () => { compute.close(); });
}

if (primaryInstance) start().catch((error: unknown) => {
  dialog.showErrorBox('MoCo Studio could not start', error instanceof Error ? error.message : String(error));
  app.exit(1);
});
