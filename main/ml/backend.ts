/**
 * The one place that decides which TensorFlow.js backend trains.
 *
 * Preference order (issue #2): `tensorflow` from @tensorflow/tfjs-node-gpu (CUDA where present,
 * libtensorflow's native CPU path otherwise) -> `wasm` (XNNPACK, with our training kernels) ->
 * `cpu` (pure JS; correct but far too slow for conv training, kept as the last resort).
 * The user may force one (`--backend`, or the MOCO_BACKEND environment variable). Every backend
 * that was tried and not used is reported with the reason, so the UI and `doctor` can say why.
 * `moco-studio doctor` benchmarks the backends; when its report is fresh the trainer passes its
 * fastest-first order (`order`), so training picks the fastest working one.
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
  /**
   * The order 'auto' tries backends in (default BACKEND_NAMES): the trainer passes the doctor's
   * fastest-first order when a fresh report exists. Backends left out are tried after, in the default order.
   */
  readonly order?: readonly BackendName[];
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

export interface BackendFailureAdvice {
  /** Why the backend does not load, in words a user can act on. */
  readonly reason: string;
  /** What the user can do about it (null when nothing: the backend is simply not available here). */
  readonly advice: string | null;
}

/** Where the explanation applies (injected so tests can ask about other platforms). */
export interface PlatformInfo {
  readonly platform: string;
  readonly arch: string;
}

const GPU_PACKAGE_PLATFORMS = 'Linux x64 and Windows x64';

/**
 * Maps a backend's load error to a reason and advice. Order matters: a platform the GPU package
 * does not support at all is said first (whatever the error), then missing package, CUDA
 * libraries, and a native binding built for another Node/Electron.
 */
export function explainBackendFailure(name: BackendName, error: unknown, where: PlatformInfo = { platform: process.platform, arch: process.arch }): BackendFailureAdvice {
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'tensorflow') {
    if (where.platform === 'darwin' || where.arch !== 'x64') {
      const what = where.platform === 'darwin' ? (where.arch === 'arm64' ? 'Apple Silicon (macOS arm64)' : 'macOS') : `${where.platform} ${where.arch}`;
      return {
        reason: `${what}: @tensorflow/tfjs-node-gpu is built for ${GPU_PACKAGE_PLATFORMS} only, so the GPU path is unavailable here`,
        advice: 'Nothing to install: training uses the wasm backend (XNNPACK, multi-threaded CPU). For a GPU, use a Linux or Windows x64 machine with an NVIDIA card.',
      };
    }
    if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/i.test(message) && /tfjs-node-gpu/.test(message)) {
      return {
        reason: '@tensorflow/tfjs-node-gpu is not installed (its install downloads libtensorflow, so it needs internet at install time)',
        advice: 'With internet access, run `npm install @tensorflow/tfjs-node-gpu` in the app folder, then run the doctor again. It needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1 to use the GPU.',
      };
    }
    if (/libcudart|libcudnn|libcublas|libcufft|libcurand|libcusolver|libcusparse|cudart64|cudnn64|\bcuda\b/i.test(message)) {
      const missing = [...new Set(message.match(/lib(cudart|cudnn|cublas)[\w.]*so[\w.]*|cu(dart|dnn)64[\w.]*dll/gi) ?? [])];
      return {
        reason: `tfjs-node-gpu is installed but the CUDA 11.2 / cuDNN 8.1 libraries were not found${missing.length > 0 ? ` (${missing.join(', ')} missing)` : ''}: ${message}`,
        advice: 'Install the NVIDIA driver, CUDA 11.2 (libcudart.so.11.0) and cuDNN 8.1 (libcudnn.so.8), and make them findable (LD_LIBRARY_PATH on Linux, PATH on Windows); newer CUDA major versions do not work with tfjs-node-gpu.',
      };
    }
    if (/NODE_MODULE_VERSION|N-API|napi|was compiled against a different Node/i.test(message)) {
      return {
        reason: `tfjs-node-gpu's native binding does not match this Node/Electron (N-API / NODE_MODULE_VERSION mismatch): ${message}`,
        advice: 'Rebuild the binding for this runtime: `npm rebuild @tensorflow/tfjs-node-gpu --build-from-source` (for the desktop app: `npx electron-rebuild -f -w @tensorflow/tfjs-node-gpu`), or reinstall it.',
      };
    }
    return { reason: message, advice: 'Reinstall @tensorflow/tfjs-node-gpu (`npm install @tensorflow/tfjs-node-gpu`); if it still fails, report this message.' };
  }
  if (name === 'wasm') {
    return { reason: message, advice: 'The wasm backend ships with the app; reinstall the app (or run `npm ci`) if it does not load.' };
  }
  return { reason: message, advice: null };
}

function explainFailure(name: BackendName, error: unknown): string {
  return explainBackendFailure(name, error).reason;
}

async function tryBackend(name: BackendName): Promise<string> {
  await loadBackendModule(name);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false (backend failed to initialise)`);
  await tf.ready();
  return name === 'cpu' ? 'pure JavaScript; correct but slow for convolutions' : 'loaded';
}

/**
 * Loads one backend and makes it current (wasm with our training kernels); returns the kernels
 * registered. Throws the raw load error (explainBackendFailure turns it into advice).
 */
export async function initialiseBackend(name: BackendName): Promise<readonly string[]> {
  await tryBackend(name);
  return name === 'wasm' ? registerWasmTrainingKernels() : [];
}

/** Selects and initialises the backend; throws only when none at all works. */
export async function chooseBackend(options: ChooseBackendOptions = {}): Promise<BackendChoice> {
  const env = options.env ?? {};
  const fromEnv = env.MOCO_BACKEND ? parseBackendName(env.MOCO_BACKEND, 'MOCO_BACKEND') : undefined;
  const preferred = options.preferred && options.preferred !== 'auto' ? options.preferred : fromEnv === 'auto' ? undefined : fromEnv;
  const autoOrder = [...new Set([...(options.order ?? []), ...BACKEND_NAMES])];
  const order: readonly BackendName[] = preferred ? [preferred] : autoOrder;

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
      if (!preferred && options.order && options.order.length > 0 && name === options.order[0]) {
        attempts.push({ name, ok: true, reason: `${reason}; fastest in the backend doctor's benchmark` });
        return { name, attempts, customKernels };
      }
      attempts.push({ name, ok: true, reason });
      return { name, attempts, customKernels };
    } catch (error) {
      attempts.push({ name, ok: false, reason: explainFailure(name, error) });
    }
  }
  const detail = attempts.map((a) => `${a.name}: ${a.reason}`).join('; ');
  throw new Error(`No TensorFlow.js backend could be initialised (${detail})`);
}
