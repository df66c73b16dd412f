/**
 * The desktop app's GPU route (issue 8): Chromium's WebGPU is in the renderer, and Dawn cannot
 * run in Electron's Node (V8 memory cage), so the MoCo step of a webgpu run runs in one hidden,
 * sandboxed window without Node (main/compute-page/), and each trainer utilityProcess gets its
 * own MessageChannelMain to it. The trainer keeps the data, checkpoints and files; only
 * compute-protocol messages cross (main/ml/replica-transport.ts). Cannot run on the development
 * machines (no Electron binary); the page and the protocol are tested in Debian Chromium
 * (test/e2e/compute-renderer.spec.ts).
 */
import { BrowserWindow, MessageChannelMain, type MessagePortMain } from 'electron';
import { APP_ORIGIN } from './protocol.js';

const COMPUTE_PORT_MESSAGE = 'moco:compute-port'; // = main/compute-page/electron-entry.ts

export class ComputeWindow {
  private window: BrowserWindow | null = null;
  private loaded: Promise<void> | null = null;

  constructor(private readonly preloadPath: string) {}

  /**
   * A new channel to the compute page (the window opens on first use); the returned end is the
   * trainer's. Synchronous, as forking a trainer is: messages wait in the channel until the page
   * has its end.
   */
  connect(): MessagePortMain {
    const { port1, port2 } = new MessageChannelMain();
    this.open().then((window) => { window.webContents.postMessage(COMPUTE_PORT_MESSAGE, null, [port2]); }, () => { port2.close(); });
    return port1;
  }

  close(): void {
    if (this.window && !this.window.isDestroyed()) this.window.destroy();
    this.window = null;
    this.loaded = null;
  }

  private async open(): Promise<BrowserWindow> {
    if (this.window && !this.window.isDestroyed() && this.loaded) {
      await this.loaded;
      return this.window;
    }
    const window = new BrowserWindow({
      show: false,
      title: 'MoCo Studio compute',
      webPreferences: {
        preload: this.preloadPath,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        nodeIntegrationInSubFrames: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        webviewTag: false,
        spellcheck: false,
        // A hidden window is throttled by default; training must not be.
        backgroundThrottling: false,
        disableBlinkFeatures: 'Auxclick',
      },
    });
    // A crashed or killed compute renderer closes its ports: the trainer's channel fails with
    // "connection lost" and the run stops with a checkpoint; the next run opens a new window.
    window.webContents.on('render-process-gone', () => { this.close(); });
    this.window = window;
    this.loaded = window.loadURL(`${APP_ORIGIN}/compute.html`);
    await this.loaded;
    return window;
  }
}
