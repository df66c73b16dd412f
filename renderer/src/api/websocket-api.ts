/**
 * `MocoApi` over the headless server's WebSocket: request ids, reconnect with backoff, pending
 * requests rejected on disconnect, frames validated (loosely: the envelope shape is checked,
 * payloads are the server's business and are re-checked by the stores where it matters).
 */
import {
  EVENT_CHANNELS, INVOKE_CHANNELS, serverFrameSchema,
  type EventChannel, type EventPayload, type InvokeChannel, type InvokeRequest, type InvokeResponse, type MocoApi,
} from '../../../shared/contract';
import { ApiError } from './api-error';

export type ConnectionState = 'connecting' | 'open' | 'closed' | 'unauthorized';

export interface WebSocketApi extends MocoApi {
  readonly connection: { readonly state: ConnectionState; readonly lastError: string | null };
  onConnection(listener: (state: ConnectionState, detail: string | null) => void): () => void;
  /** Error frames that answer no pending request (e.g. a malformed frame the server rejected). */
  onUnmatchedError(listener: (error: ApiError) => void): () => void;
  /** Sends a raw frame (used by the end-to-end test of malformed messages). */
  sendRaw(data: string): void;
  close(): void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const REQUEST_TIMEOUT_MS = 5 * 60_000;
const MAX_BACKOFF_MS = 10_000;
/** Close codes the server uses to refuse a connection (bad token): do not retry. */
const UNAUTHORIZED_CODES = new Set([1008, 4001, 4003, 4401, 4403]);

export function createWebSocketApi(url: string, token: string): WebSocketApi {
  const invokeChannels = new Set<string>(INVOKE_CHANNELS);
  const eventChannels = new Set<string>(EVENT_CHANNELS);
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const connectionListeners = new Set<(state: ConnectionState, detail: string | null) => void>();
  const pending = new Map<number, Pending>();
  const queue: string[] = [];
  let nextId = 1;
  let socket: WebSocket | null = null;
  let attempt = 0;
  let closedByUser = false;
  let everOpened = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  const connection: { state: ConnectionState; lastError: string | null } = { state: 'connecting', lastError: null };

  function setState(state: ConnectionState, detail: string | null): void {
    connection.state = state;
    connection.lastError = detail;
    for (const listener of connectionListeners) listener(state, detail);
  }

  function rejectAll(message: string, code: string): void {
    for (const [id, request] of pending) {
      clearTimeout(request.timer);
      request.reject(new ApiError(code, message));
      pending.delete(id);
    }
  }

  function connect(): void {
    const target = new URL(url);
    target.searchParams.set('token', token);
    setState('connecting', connection.lastError);
    const ws = new WebSocket(target.toString());
    socket = ws;
    ws.addEventListener('open', () => {
      attempt = 0;
      everOpened = true;
      setState('open', null);
      for (const frame of queue.splice(0)) ws.send(frame);
    });
    ws.addEventListener('message', (message) => { handleFrame(message.data); });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      socket = null;
      if (UNAUTHORIZED_CODES.has(event.code)) {
        const reason = event.reason || 'The server refused the access token.';
        rejectAll(`${reason} Open the full URL printed by "moco-studio serve" (it contains ?token=...).`, 'unauthorized');
        setState('unauthorized', reason);
        return;
      }
      rejectAll('Lost the connection to the MoCo Studio server; the request was not completed. Reconnecting…', 'disconnected');
      if (closedByUser) { setState('closed', null); return; }
      if (everOpened) { scheduleReconnect(null); return; }
      // A handshake refused over HTTP (bad token: 401) looks to the browser like any failed
      // connection. Ask the server over plain HTTP, which does show the status.
      void probeToken().then((refusedToken) => {
        if (refusedToken) {
          setState('unauthorized', 'The server refused the access token in this address.');
          return;
        }
        scheduleReconnect('Could not connect to the MoCo Studio server. Is "moco-studio serve" still running? If the address is old, open the full URL it printed (it contains ?token=...).');
      });
    });
  }

  function scheduleReconnect(reason: string | null): void {
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt++;
    setState('closed', reason ?? `Disconnected from the server; retrying in ${Math.round(delay / 100) / 10} s. Is "moco-studio serve" still running?`);
    reconnectTimer = setTimeout(() => { reconnectTimer = null; connect(); }, delay);
  }

  /** True when the server answers 401 to this token (its /api routes check the token first). */
  async function probeToken(): Promise<boolean> {
    try {
      const target = new URL(url);
      target.protocol = target.protocol === 'wss:' ? 'https:' : 'http:';
      target.pathname = '/api/token-check';
      target.searchParams.set('token', token);
      const response = await fetch(target, { credentials: 'omit', cache: 'no-store' });
      return response.status === 401;
    } catch {
      return false;
    }
  }

  function handleFrame(data: unknown): void {
    if (typeof data !== 'string') return;
    let parsed: unknown;
    try { parsed = JSON.parse(data); } catch { return; }
    const frame = serverFrameSchema.safeParse(parsed);
    if (!frame.success) return;
    const value = frame.data;
    if ('event' in value) {
      if (!eventChannels.has(value.event)) return;
      for (const listener of listeners.get(value.event) ?? []) {
        try { listener(value.payload); } catch (error) { console.error(error); }
      }
      return;
    }
    const request = pending.get(value.id);
    if (!request) {
      // An error for a frame we did not send as a request (e.g. a malformed one): surface it.
      if (!value.ok) for (const listener of errorListeners) listener(new ApiError(value.error.code, value.error.message));
      return;
    }
    pending.delete(value.id);
    clearTimeout(request.timer);
    if (value.ok) request.resolve(value.response);
    else request.reject(new ApiError(value.error.code, value.error.message));
  }

  const errorListeners = new Set<(error: ApiError) => void>();

  function send(frame: string): void {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame);
    else queue.push(frame);
  }

  connect();

  const api: WebSocketApi = {
    connection,
    invoke<C extends InvokeChannel>(channel: C, request: InvokeRequest<C>): Promise<InvokeResponse<C>> {
      if (!invokeChannels.has(channel)) return Promise.reject(new ApiError('unknown-channel', `Unknown channel "${channel}"`));
      if (connection.state === 'unauthorized') return Promise.reject(new ApiError('unauthorized', connection.lastError ?? 'Not authorised'));
      // Never connected yet and the last try failed: answer now rather than queueing silently.
      if (!everOpened && connection.state === 'closed') return Promise.reject(new ApiError('not-connected', connection.lastError ?? 'Not connected to the server'));
      const id = nextId++;
      return new Promise<InvokeResponse<C>>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new ApiError('timeout', `${channel}: no answer from the server in ${REQUEST_TIMEOUT_MS / 1000} s`));
        }, REQUEST_TIMEOUT_MS);
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
        send(JSON.stringify({ id, channel, request }));
      });
    },
    on<C extends EventChannel>(channel: C, listener: (payload: EventPayload<C>) => void): () => void {
      if (!eventChannels.has(channel)) throw new Error(`Unknown event "${channel}"`);
      let set = listeners.get(channel);
      if (!set) { set = new Set(); listeners.set(channel, set); }
      const wrapped = listener as (payload: unknown) => void;
      set.add(wrapped);
      return () => { set.delete(wrapped); };
    },
    imageUrl(folderId: string, relativePath: string): string {
      const path = relativePath.split('/').map(encodeURIComponent).join('/');
      return `/images/${encodeURIComponent(folderId)}/${path}?token=${encodeURIComponent(token)}`;
    },
    exportUrl(runId, format): string {
      return `/exports/${encodeURIComponent(runId)}/${format}?token=${encodeURIComponent(token)}`;
    },
    onConnection(listener) {
      connectionListeners.add(listener);
      return () => { connectionListeners.delete(listener); };
    },
    onUnmatchedError(listener) {
      errorListeners.add(listener);
      return () => { errorListeners.delete(listener); };
    },
    sendRaw(data: string): void { send(data); },
    close(): void {
      closedByUser = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      socket?.close();
    },
  };
  return api;
}
