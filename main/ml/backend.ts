/**
 * The one place that decides which TensorFlow.js backend trains.
 *
 * Preference order (issue #2): `tensorflow` from @tensorflow/tfjs-node-gpu (CUDA where present,
 * libtensorflow's native CPU path otherwise) -> `wasm` (XNNPACK, with our training kernels) ->
 * `cpu` (pure JS; correct but far too slow for conv training, kept as the last resort).
 * The user may force one (`--backend`, or the MOCO_BACKEND environment variable). Every backend
 * that was tried and not used is reported with the reason, so the UI and `doctor` can say why.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients, and its ESM files that do cannot load under
// Node's ESM resolver (directory imports). The umbrella package's Node bundle registers them all
// into tfjs' global registry; we import it for that side effect only and use tfjs-core's API.
import '@tensorflow/tfjs';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';

/** Typed as a plain string: the optional package has no types where it is not installed. */
export const TFJS_NODE_GPU: string = '@tensorflow/tfjs-node-gpu';

export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendAttempt {
  readonly name: BackendName;
  readonly ok: boolean;
  /** Why it was used or why not, in words a user can act on. */
  readonly reason: string;
}

export interface BackendChoice {
  readonly name: BackendName;
  readonly attempts: readonly BackendAttempt[];
  /** Kernels this project registered on top of the stock backend (wasm only). */
  readonly customKernels: readonly string[];
}

export interface ChooseBackendOptions {
  /** Force a backend; otherwise the environment variable, otherwise the preference order. */
  readonly preferred?: BackendName | 'auto';
  /** Environment to read MOCO_BACKEND from (injected so tests do not mutate process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function parseBackendName(value: string, field = 'backend'): BackendName | 'auto' {
  const v = value.trim().toLowerCase();
  if (v === 'auto') return 'auto';
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(`${field}: unknown backend "${value}"; expected one of auto, ${BACKEND_NAMES.join(', ')}`);
}

async function loadBackendModule(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow':
      // Optional dependency: absent where libtensorflow could not be downloaded at install time.
      await import(TFJS_NODE_GPU);
      return;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return;
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return;
  }
}

function explainFailure(name: BackendName, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'tensorflow') {
    if (/Cannot find (module|package)/i.test(message)) {
      return '@tensorflow/tfjs-node-gpu is not installed (its install downloads libtensorflow; it needs internet at install time)';
    }
    if (/libcudart|libcudnn|cuda/i.test(message)) {
      return `tfjs-node-gpu is installed but CUDA 11.2 / cuDNN 8.1 libraries were not found: ${message}`;
    }
    if (/NODE_MODULE_VERSION|N-API|napi/i.test(message)) {
      return `tfjs-node-gpu's native binding does not match this Node/Electron (N-API mismatch): ${message}`;
    }
  }
  return message;
}

async function tryBackend(name: BackendName): Promise<string> {
  await loadBackendModule(name);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false (backend failed to initialise)`);
  await tf.ready();
  return name === 'cpu' ? 'pure JavaScript; correct but slow for convolutions' : 'loaded';
}

/** Selects and initialises the backend; throws only when none at all works. */
export async function chooseBackend(options: ChooseBackendOptions = {}): Promise<BackendChoice> {
  const env = options.env ?? {};
  const fromEnv = env.MOCO_BACKEND ? parseBackendName(env.MOCO_BACKEND, 'MOCO_BACKEND') : undefined;
  const preferred = options.preferred && options.preferred !== 'auto' ? options.preferred : fromEnv === 'auto' ? undefined : fromEnv;
  const order: readonly BackendName[] = preferred ? [preferred] : BACKEND_NAMES;

  const attempts: BackendAttempt[] = [];
  if (preferred) {
    for (const skipped of BACKEND_NAMES.filter((b) => b !== preferred)) {
      attempts.push({ name: skipped, ok: false, reason: `not tried: backend forced to ${preferred}` });
    }
  }
  for (const name of order) {
    try {
      const reason = await tryBackend(name);
      const customKernels = name === 'wasm' ? registerWasmTrainingKernels() : [];
      attempts.push({ name, ok: true, reason });
      return { name, attempts, customKernels };
    } catch (error) {
      attempts.push({ name, ok: false, reason: explainFailure(name, error) });
    }
  }
  const detail = attempts.map((a) => `${a.name}: ${a.reason}`).join('; ');
  throw new Error(`No TensorFlow.js backend could be initialised (${detail})`);
}
