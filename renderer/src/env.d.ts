/// <reference types="vite/client" />
import type { MocoApi } from '../../shared/contract';

declare global {
  interface Window {
    /** Set by Electron's preload; absent in a browser (the WebSocket client is used instead). */
    api?: MocoApi;
  }
}

