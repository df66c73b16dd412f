/** An error with a stable code for the error envelope of the IPC and WebSocket front doors (main/core/dispatch.ts). */
export class CoreError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'CoreError';
  }
}
