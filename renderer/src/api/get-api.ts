/**
 * The one `MocoApi` of this page: Electron's preload sets `window.api`; in a browser the
 * headless server is reached over WebSocket with the token from the page URL (kept in
 * sessionStorage and removed from the address bar, so it is not left in history or screenshots).
 */
import type { MocoApi } from '../../../shared/contract';
import { createWebSocketApi, type ConnectionState, type WebSocketApi } from './websocket-api';

const TOKEN_KEY = 'moco-studio.token';

let api: MocoApi | null = null;
let socketApi: WebSocketApi | null = null;

export function readToken(): string {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function getApi(): MocoApi {
  if (api) return api;
  if (window.api) {
    api = window.api;
    return api;
  }
  const token = readToken();
  const protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  socketApi = createWebSocketApi(`${protocol}//${window.location.host}/ws`, token);
  api = socketApi;
  return api;
}

/** The WebSocket client when this page uses one (null in Electron). */
export function getSocketApi(): WebSocketApi | null {
  getApi();
  return socketApi;
}

export type { ConnectionState };
