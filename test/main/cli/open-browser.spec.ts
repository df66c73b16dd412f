import { describe, expect, it } from 'vitest';
import { noDisplayReason, openBrowser, openBrowserCommand } from '../../../main/cli/open-browser.js';

describe('opening the served app in a browser (issue 12 item 8)', () => {
  it('knows there is no display on Linux without DISPLAY or WAYLAND_DISPLAY', () => {
    expect(noDisplayReason('linux', {})).toMatch(/no display/);
    expect(noDisplayReason('linux', { DISPLAY: ':0' })).toBeNull();
    expect(noDisplayReason('linux', { WAYLAND_DISPLAY: 'wayland-0' })).toBeNull();
    expect(noDisplayReason('darwin', {})).toBeNull();
  });

  it('says where to open the URL instead of failing quietly', () => {
    if (process.platform !== 'linux') return;
    const written: string[] = [];
    openBrowser('http://127.0.0.1:4321/?token=abc', 4321, (text) => { written.push(text); }, {});
    const text = written.join('');
    expect(text).toContain('Could not open a browser: there is no display here');
    expect(text).toContain('http://127.0.0.1:4321/?token=abc');
    expect(text).toContain('ssh -L 4321:127.0.0.1:4321');
  });

  it('uses each platform\'s opener', () => {
    expect(openBrowserCommand('linux', 'u')).toEqual(['xdg-open', ['u']]);
    expect(openBrowserCommand('darwin', 'u')).toEqual(['open', ['u']]);
    expect(openBrowserCommand('win32', 'u')[0]).toBe('cmd');
  });
});
