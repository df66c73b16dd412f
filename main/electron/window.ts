/**
 * The app window with every setting of Electron's security checklist: context isolation,
 * sandbox, no Node integration, web security on, no navigation, no new windows, no webviews,
 * permission requests denied. The renderer is loaded from our own `moco://app/` scheme (not
 * file://), whose responses carry the CSP (protocol.ts).
 */
import { BrowserWindow, session, shell, type WebContents } from 'electron';
import { APP_ORIGIN } from './protocol.js';

export function createMainWindow(preloadPath: string): BrowserWindow {
  const window = new BrowserWindow({
    width: 1360,
    height: 880,
    minWidth: 960,
    minHeight: 640,
    show: false,
    title: 'MoCo Studio',
    backgroundColor: '#16181d',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
      // Middle-click (auxclick) could open links in a new window despite the open handler.
      disableBlinkFeatures: 'Auxclick',
    },
  });
  window.once('ready-to-show', () => { window.show(); });
  void window.loadURL(`${APP_ORIGIN}/index.html`);
  return window;
}

/** Applied to every web contents the app ever creates. */
export function hardenWebContents(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => { event.preventDefault(); });
  contents.setWindowOpenHandler(({ url }) => {
    // Links to documentation open in the user's browser, never inside the app.
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

export function denyAllPermissions(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => { callback(false); });
  session.defaultSession.setPermissionCheckHandler(() => false);
}
