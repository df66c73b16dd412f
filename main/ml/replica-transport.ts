/**
 * Compute replicas over any message transport (issue 8): the trainer side's ReplicaChannel and
 * the replica side's serve loop, both written against MessageEndpoint, so the one MoCo step
 * (compute-replica.ts, coordinated by worker-pool-host.ts) runs wherever a replica can be
 * reached. Endpoints in use:
 *   - Electron's MessagePortMain (trainer utilityProcess) <-> a DOM MessagePort in the hidden
 *     compute renderer (main/electron/compute-window.ts, main/compute-page/);
 *   - a WebSocket carrying binary frames (binary-frame.ts): the Playwright test of the compute
 *     page in Debian Chromium (test/e2e/compute-renderer.spec.ts).
 * Replies are validated (shared/compute-channel.ts): the far end may be a renderer process.
 */
import { replicaReplyEnvelopeSchema, replicaReplySchemas, replicaRequestEnvelopeSchema, replicaRequestSchemas, type ReplicaRequestType } from '../../shared/compute-channel.js';
import { transferables, type ReplicaChannel, type ReplicaRequest, type ReplicaSetup } from './compute-protocol.js';
import type { ReplicaAdapter } from '../../shared/compute-channel.js';
import { ComputeReplica, type ReplicaReply } from './compute-replica.js';

/** A two-way message carrier: a MessagePort, Electron's MessagePortMain, a framed WebSocket. */
export interface MessageEndpoint {
  /** `transfer`: buffers handed over where the carrier can (others copy). */
  postMessage(message: unknown, transfer: readonly ArrayBuffer[]): void;
  /** The one listener for incoming messages. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called once when the far end is gone (port closed, socket dropped, renderer crashed). */
  onClose(listener: (reason: string) => void): void;
  close(): void;
}

interface RequestEnvelope { readonly id: number; readonly request: ReplicaRequest }

type Pending = { readonly type: ReplicaRequest['type']; readonly resolve: (reply: ReplicaReply) => void; readonly reject: (error: Error) => void };

/** The trainer side: requests in order, replies matched by id and validated. */
export class EndpointReplicaChannel implements ReplicaChannel {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  /** `name` says where the replica is in errors ("compute renderer", "compute page"). */
  constructor(private readonly endpoint: MessageEndpoint, private readonly name: string) {
    endpoint.onMessage((message) => { this.receive(message); });
    endpoint.onClose((reason) => { this.fail(new Error(`${name}: connection lost (${reason})`)); });
  }

  request<R extends ReplicaReply>(request: ReplicaRequest, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { type: request.type, resolve: resolve as (r: ReplicaReply) => void, reject });
      const envelope: RequestEnvelope = { id, request };
      try {
        this.endpoint.postMessage(envelope, transfer);
      } catch (error) {
        this.pending.delete(id);
        reject(new Error(`${this.name}: could not send ${request.type}: ${error instanceof Error ? error.message : String(error)}`));
      }
    });
  }

  close(): Promise<void> {
    this.fail(new Error(`${this.name}: closed`));
    this.endpoint.close();
    return Promise.resolve();
  }

  private receive(message: unknown): void {
    const envelope = replicaReplyEnvelopeSchema.safeParse(message);
    if (!envelope.success) {
      this.fail(new Error(`${this.name}: malformed reply (${envelope.error.issues[0]?.message ?? 'not an envelope'}); closing the channel`));
      return;
    }
    const { id, reply, error } = envelope.data;
    const p = this.pending.get(id);
    if (!p) return; // a reply after close or failure
    this.pending.delete(id);
    if (error !== undefined) {
      p.reject(new Error(`${this.name}: ${error}`));
      return;
    }
    const parsed = replicaReplySchemas[p.type].safeParse(reply);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      p.reject(new Error(`${this.name}: invalid ${p.type} reply at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`));
      return;
    }
    p.resolve(reply as ReplicaReply);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

export interface ServeOptions {
  /** Runs before each init and probe (load the replica's backend: wasm in a worker, webgpu in a page). */
  readonly prepare?: (backend: ReplicaSetup['backend']) => Promise<void>;
  readonly replica?: ComputeReplica;
  /** Fields added to init and probe replies (a page's WebGPU adapter). */
  readonly describe?: () => { readonly adapter?: ReplicaAdapter };
  /**
   * Validate every request (shared/compute-channel.ts) before the replica acts on it: for a page
   * whose sender is another process (default true). A request that fails gets an error reply
   * naming the field; a message that is not an envelope at all is dropped (it has no id to answer).
   */
  readonly validate?: boolean;
}

/** The request, or why it is refused ("invalid keys request at pixels: ..."). */
function checkRequest(request: unknown): { ok: true; request: ReplicaRequest } | { ok: false; error: string } {
  const type = typeof request === 'object' && request !== null ? (request as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !Object.hasOwn(replicaRequestSchemas, type)) return { ok: false, error: `unknown request type ${JSON.stringify(type ?? null)}` };
  const parsed = replicaRequestSchemas[type as ReplicaRequestType].safeParse(request);
  if (parsed.success) return { ok: true, request: request as ReplicaRequest };
  const issue = parsed.error.issues[0];
  return { ok: false, error: `invalid ${type} request at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}` };
}

/** The replica side: answers requests strictly in order, one at a time; errors go back as messages. */
export function serveReplica(endpoint: MessageEndpoint, options: ServeOptions = {}): ComputeReplica {
  const replica = options.replica ?? new ComputeReplica();
  let queue: Promise<void> = Promise.resolve();
  endpoint.onMessage((message) => {
    queue = queue.then(async () => {
      const envelope = replicaRequestEnvelopeSchema.safeParse(message);
      if (!envelope.success) return;
      const { id } = envelope.data;
      const checked = options.validate === false ? { ok: true as const, request: (message as RequestEnvelope).request } : checkRequest(envelope.data.request);
      if (!checked.ok) {
        endpoint.postMessage({ id, error: checked.error }, []);
        return;
      }
      const { request } = checked;
      try {
        const starts = request.type === 'init' || request.type === 'probe';
        if (starts && options.prepare) await options.prepare(request.type === 'init' ? request.setup.backend : request.backend);
        const handled = await replica.handle(request);
        const reply = starts && options.describe ? { ...handled, ...options.describe() } : handled;
        endpoint.postMessage({ id, reply }, transferables(reply));
      } catch (error) {
        endpoint.postMessage({ id, error: error instanceof Error ? error.message : String(error) }, []);
      }
    });
  });
  endpoint.onClose(() => { replica.dispose(); });
  return replica;
}
