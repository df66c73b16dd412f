/**
 * The one gateway from a transport (Electron IPC, the server's WebSocket) into the app core:
 * validate the request against the contract, run the handler, validate the response, and turn
 * any failure into the error envelope {code, message} (never a stack trace).
 */
import { invokeContract, parseInvokeRequest, type InvokeChannel } from '../../shared/contract.js';
import type { AppCore } from './app-core.js';

export type DispatchResult = { ok: true; response: unknown } | { ok: false; error: { code: string; message: string } };

function envelope(error: unknown): { code: string; message: string } {
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'internal';
  // Node's errno codes (ENOENT, EACCES) keep their message; everything else is reduced to its message line.
  const message = error instanceof Error ? error.message : String(error);
  return { code, message: message.split('\n    at ')[0]!.slice(0, 4000) };
}

export async function dispatchInvoke(core: AppCore, channel: string, request: unknown): Promise<DispatchResult> {
  let parsed: { channel: InvokeChannel; request: unknown };
  try {
    parsed = parseInvokeRequest(channel, request);
  } catch (error) {
    return { ok: false, error: envelope(error) };
  }
  let response: unknown;
  try {
    response = await core.invoke(parsed.channel, parsed.request as never);
  } catch (error) {
    return { ok: false, error: envelope(error) };
  }
  const checked = invokeContract[parsed.channel].response.safeParse(response);
  if (!checked.success) {
    return { ok: false, error: { code: 'invalid-response', message: `${parsed.channel}: the core answered outside the contract (${checked.error.issues.map((i) => `${i.path.join('.') || '(response)'}: ${i.message}`).join('; ').slice(0, 1000)})` } };
  }
  return { ok: true, response: checked.data };
}
