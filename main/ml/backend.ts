/**
 * The one place that decides which TensorFlow.js backend trains.
 *
 * Preference order (issues #2, #8): `webgpu` (Dawn in Node, on a real GPU adapter only: any
 * Vulkan / Metal / D3D12 GPU; webgpu-backend.ts) -> `tensorflow` from @tensorflow/tfjs-node-gpu
 * (CUDA where present, libtensorflow's native CPU path otherwise) -> `wasm` (XNNPACK, with our
 * training kernels) -> `cpu` (pure JS; correct but far too slow for conv training, the last resort).
 * A forced `webgpu` that cannot start falls back to wasm (then cpu), with the reason.
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
import { registerWebGpuBackend, WebGpuUnavailable, type WebGpuAdapterReport } from './webgpu-backend.js';

/** Typed as a plain string: the optional package has no types where it is not installed. */
export const TFJS_NODE_GPU: string = '@tensorflow/tfjs-node-gpu';

export const BACKEND_NAMES = ['webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
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
  /** The adapter when the choice is webgpu, else null. */
  readonly adapter: WebGpuAdapterReport | null;
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
  /** Accept a software WebGPU adapter (tests, doctor); default: env MOCO_WEBGPU_ALLOW_FALLBACK=1. */
  readonly allowFallbackAdapter?: boolean;
}

export function parseBackendName(value: string, field = 'backend'): BackendName | 'auto' {
  const v = value.trim().toLowerCase();
  if (v === 'auto') return 'auto';
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(`${field}: unknown backend "${value}"; expected one of auto, ${BACKEND_NAMES.join(', ')}`);
}

/** Options of the webgpu backend's load (the others have none). */
interface LoadOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly allowFallbackAdapter?: boolean;
}

async function loadBackendModule(name: BackendName, options: LoadOptions): Promise<WebGpuAdapterReport | null> {
  switch (name) {
    case 'webgpu':
      return registerWebGpuBackend({ env: options.env, ...(options.allowFallbackAdapter !== undefined ? { allowFallbackAdapter: options.allowFallbackAdapter } : {}) });
    case 'tensorflow':
      // Optional dependency: absent where libtensorflow could not be downloaded at install time.
      await import(TFJS_NODE_GPU);
      return null;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return null;
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return null;
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
  if (error instanceof WebGpuUnavailable) return { reason: error.reason, advice: error.advice };
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'webgpu') {
    return { reason: `WebGPU failed to start: ${message}`, advice: 'Update the GPU driver and run `moco-studio doctor` again; training uses wasm meanwhile.' };
  }
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

interface Loaded {
  readonly reason: string;
  readonly adapter: WebGpuAdapterReport | null;
}

async function tryBackend(name: BackendName, options: LoadOptions): Promise<Loaded> {
  const adapter = await loadBackendModule(name, options);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false (backend failed to initialise)`);
  await tf.ready();
  const reason = name === 'cpu' ? 'pure JavaScript; correct but slow for convolutions' : adapter ? `loaded on ${formatAdapterShort(adapter)}` : 'loaded';
  return { reason, adapter };
}

function formatAdapterShort(a: WebGpuAdapterReport): string {
  const name = [a.vendor, a.architecture].filter((s) => s.length > 0).join(' ') || a.description || 'an unnamed adapter';
  return a.software ? `${name} (software adapter, allowed by MOCO_WEBGPU_ALLOW_FALLBACK or the caller)` : name;
}

export interface InitialisedBackend {
  /** Kernels this project registered on top of the stock backend (wasm only). */
  readonly customKernels: readonly string[];
  readonly adapter: WebGpuAdapterReport | null;
}

/**
 * Loads one backend and makes it current (wasm with our training kernels). Throws the raw load
 * error (explainBackendFailure turns it into advice).
 */
export async function initialiseBackend(name: BackendName, options: Partial<LoadOptions> = {}): Promise<InitialisedBackend> {
  const { adapter } = await tryBackend(name, { env: options.env ?? process.env, ...(options.allowFallbackAdapter !== undefined ? { allowFallbackAdapter: options.allowFallbackAdapter } : {}) });
  return { customKernels: name === 'wasm' ? registerWasmTrainingKernels() : [], adapter };
}

/** Selects and initialises the backend; throws only when none at all works. */
export async function chooseBackend(options: ChooseBackendOptions = {}): Promise<BackendChoice> {
  const env = options.env ?? {};
  const fromEnv = env.MOCO_BACKEND ? parseBackendName(env.MOCO_BACKEND, 'MOCO_BACKEND') : undefined;
  const preferred = options.preferred && options.preferred !== 'auto' ? options.preferred : fromEnv === 'auto' ? undefined : fromEnv;
  const autoOrder = [...new Set([...(options.order ?? []), ...BACKEND_NAMES])];
  // A forced webgpu that cannot start falls back to the CPU paths (issue 8): a GPU driver
  // problem should not stop a run; the attempt says why.
  const order: readonly BackendName[] = preferred === 'webgpu' ? ['webgpu', 'wasm', 'cpu'] : preferred ? [preferred] : autoOrder;
  const load: LoadOptions = { env, ...(options.allowFallbackAdapter !== undefined ? { allowFallbackAdapter: options.allowFallbackAdapter } : {}) };

  const attempts: BackendAttempt[] = [];
  if (preferred) {
    for (const skipped of BACKEND_NAMES.filter((b) => !order.includes(b))) {
      attempts.push({ name: skipped, ok: false, reason: `not tried: backend forced to ${preferred}` });
    }
  }
  for (const name of order) {
    try {
      const { reason, adapter } = await tryBackend(name, load);
      const customKernels = name === 'wasm' ? registerWasmTrainingKernels() : [];
      if (!preferred && options.order && options.order.length > 0 && name === options.order[0]) {
        attempts.push({ name, ok: true, reason: `${reason}; fastest in the backend doctor's benchmark` });
        return { name, attempts, customKernels, adapter };
      }
      attempts.push({ name, ok: true, reason: preferred && name !== preferred ? `${reason} (fallback: ${preferred} could not start)` : reason });
      return { name, attempts, customKernels, adapter };
    } catch (error) {
      attempts.push({ name, ok: false, reason: explainFailure(name, error) });
    }
  }
  const detail = attempts.map((a) => `${a.name}: ${a.reason}`).join('; ');
  throw new Error(`No TensorFlow.js backend could be initialised (${detail})`);
}
