/**
 * Where MoCo Studio keeps its data: runs (each in its own folder) and the decoded-image cache.
 * MOCO_STUDIO_HOME overrides; otherwise the platform's per-user data folder (the desktop app
 * passes Electron's app.getPath('userData'), which is the same place).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDataDirectory(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.MOCO_STUDIO_HOME) return env.MOCO_STUDIO_HOME;
  const home = homedir();
  switch (platform) {
    case 'win32':
      return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'MoCo Studio');
    case 'darwin':
      return join(home, 'Library', 'Application Support', 'MoCo Studio');
    default:
      return join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'moco-studio');
  }
}

export function runsDirectory(dataDirectory: string): string {
  return join(dataDirectory, 'runs');
}

export function cacheDirectory(dataDirectory: string): string {
  return join(dataDirectory, 'cache', 'images');
}

/** The backend doctor's last report (moco-studio doctor, the app's Backends view); training reads it. */
export function backendReportPath(dataDirectory: string): string {
  return join(dataDirectory, 'backend-report.json');
}
