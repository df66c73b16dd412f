/**
 * Opens the served app in the system's browser, and says where to open it when that cannot
 * work (issue 12 item 8: `npm start` with no display failed quietly): no DISPLAY/WAYLAND_DISPLAY
 * on Linux, no xdg-open, or the opener failing.
 */
import { spawn } from 'node:child_process';

export function openBrowserCommand(platform: NodeJS.Platform, url: string): [string, string[]] {
  return platform === 'darwin' ? ['open', [url]] : platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
}

/** Why no browser can be opened here (null: try). */
export function noDisplayReason(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string | null {
  if (platform === 'darwin' || platform === 'win32') return null;
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return null;
  return 'there is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)';
}

function advice(url: string, port: number, reason: string): string {
  return `Could not open a browser: ${reason}.\nOpen this address in a browser on this machine:\n  ${url}\n`
    + `or, from another computer, forward the port first: ssh -L ${port}:127.0.0.1:${port} <this-host>, then open the same address there.\n`;
}

export function openBrowser(url: string, port: number, write: (text: string) => void, env: NodeJS.ProcessEnv = process.env): void {
  const missing = noDisplayReason(process.platform, env);
  if (missing) { write(advice(url, port, missing)); return; }
  const [command, args] = openBrowserCommand(process.platform, url);
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', (error) => { write(advice(url, port, `${command} could not start (${error.message})`)); });
    child.on('exit', (code) => { if (code !== null && code !== 0) write(advice(url, port, `${command} exited with ${code}`)); });
    child.unref();
  } catch (error) {
    write(advice(url, port, `${command} could not start (${(error as Error).message})`));
  }
}
