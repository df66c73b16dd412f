/**
 * The WebGPU backend in Node (issue 8): Dawn's N-API binding (the optional `webgpu` package)
 * gives Node a `navigator.gpu`; @tensorflow/tfjs-backend-webgpu runs tfjs kernels on it.
 *
 * Our own factory, not the stock one: the stock factory crashes on a null adapter and accepts a
 * software fallback adapter (SwiftShader, ~30x slower than wasm here), which would make 'auto'
 * pick a CPU emulation of a GPU over the real CPU path. We refuse:
 *   - Electron's Node (utilityProcess, ELECTRON_RUN_AS_NODE): V8's memory cage refuses the
 *     external ArrayBuffers dawn.node maps buffers with (since Electron 21); the desktop app's GPU
 *     route is a renderer with Chromium's own WebGPU instead;
 *   - Linux with glibc < 2.34 (the prebuilt linux dawn.node needs it);
 *   - a missing `webgpu` package, no adapter, or only a software adapter, unless a software
 *     adapter is asked for (MOCO_WEBGPU_ALLOW_FALLBACK=1, or the option: tests and the doctor).
 * Every refusal is a WebGpuUnavailable with a reason and advice; chooseBackend falls back to wasm.
 *
 * Dawn's backend: its default (Vulkan / Metal / D3D12). MOCO_WEBGPU_DAWN=opengl selects its
 * OpenGL ES backend with a compatibility-level adapter (Mesa llvmpipe here, EGL surfaceless).
 */
/// <reference types="@webgpu/types" />
import * as tf from '@tensorflow/tfjs-core';

/** Typed as plain strings: the optional package may be absent, and is loaded only on demand. */
const WEBGPU_PACKAGE: string = 'webgpu';
const TFJS_WEBGPU_PACKAGE: string = '@tensorflow/tfjs-backend-webgpu';

export interface WebGpuAdapterReport {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** The adapter says it is a fallback (software) adapter. */
  readonly isFallbackAdapter: boolean;
  /** A CPU implementation of a GPU (fallback flag, or a known software driver such as llvmpipe). */
  readonly software: boolean;
  /** Dawn's backend: 'default' (Vulkan, Metal or D3D12 as the OS has) or 'opengl'. */
  readonly dawnBackend: 'default' | 'opengl';
}

export type WebGpuUnavailableCode = 'electron-node' | 'glibc' | 'not-installed' | 'no-adapter' | 'fallback-only' | 'device-failed';

export class WebGpuUnavailable extends Error {
  constructor(readonly code: WebGpuUnavailableCode, readonly reason: string, readonly advice: string | null, readonly adapter: WebGpuAdapterReport | null = null) {
    super(reason);
    this.name = 'WebGpuUnavailable';
  }
}

export interface WebGpuOptions {
  /** Accept a software (fallback) adapter; default: env MOCO_WEBGPU_ALLOW_FALLBACK=1. */
  readonly allowFallbackAdapter?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Injected by tests: Electron's version (default process.versions.electron) and glibc's. */
  readonly electronVersion?: string | undefined;
  readonly glibcVersion?: string | null;
}

/** Software drivers that do not flag themselves as fallback adapters (llvmpipe through Dawn's GL). */
const SOFTWARE_DRIVER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

export const MIN_GLIBC = '2.34';

function glibcRuntime(): string | null {
  if (process.platform !== 'linux') return null;
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime ?? null;
}

function versionBelow(version: string, minimum: string): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = minimum.split('.').map(Number);
  return a < c || (a === c && b < d);
}

/** Refusals that need no GPU call: Electron's Node, an old glibc. Null when WebGPU may be tried. */
export function webGpuPlatformProblem(options: WebGpuOptions = {}): WebGpuUnavailable | null {
  const electron = 'electronVersion' in options ? options.electronVersion : process.versions.electron;
  if (electron) {
    return new WebGpuUnavailable('electron-node',
      `Electron ${electron}'s Node cannot run Dawn (dawn.node): Electron's V8 memory cage refuses the external ArrayBuffers it maps GPU buffers with`,
      'The desktop app\'s GPU route is a renderer with Chromium\'s WebGPU, which is not built yet: training uses wasm. For WebGPU today, train from the command line (`moco-studio train --backend webgpu`) or the headless server.');
  }
  const glibc = 'glibcVersion' in options ? options.glibcVersion : glibcRuntime();
  if (glibc && versionBelow(glibc, MIN_GLIBC)) {
    return new WebGpuUnavailable('glibc', `glibc ${glibc} is too old for the prebuilt Dawn binding (needs glibc >= ${MIN_GLIBC})`,
      'Use a newer Linux (Debian 12, Ubuntu 22.04, Fedora 35 or later); training uses wasm here.');
  }
  return null;
}

export function describeAdapter(info: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>> & { isFallbackAdapter?: boolean }, flaggedFallback: boolean | undefined, dawnBackend: 'default' | 'opengl'): WebGpuAdapterReport {
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const device = info.device ?? '';
  const description = info.description ?? '';
  const isFallbackAdapter = info.isFallbackAdapter === true || flaggedFallback === true;
  const software = isFallbackAdapter || SOFTWARE_DRIVER.test(`${vendor} ${architecture} ${device} ${description}`);
  return { vendor, architecture, device, description, isFallbackAdapter, software, dawnBackend };
}

/** One line for logs and the UI: "google swiftshader (SwiftShader driver 5.0.0), software". */
export function formatAdapter(a: WebGpuAdapterReport): string {
  const name = [a.vendor, a.architecture].filter((s) => s.length > 0).join(' ') || a.device || 'unnamed adapter';
  const detail = a.description && a.description !== name ? ` (${a.description})` : '';
  return `${name}${detail}${a.software ? ', software (CPU) adapter' : ''}${a.dawnBackend === 'opengl' ? ', Dawn OpenGL' : ''}`;
}

interface Registered {
  readonly adapter: WebGpuAdapterReport;
}

let registered: Promise<Registered> | null = null;

/** Makes `navigator.gpu` Dawn's GPU in this process (Node 20 has no navigator; Node 21+ has one without gpu). */
function installNavigatorGpu(gpu: GPU): void {
  const existing = (globalThis as { navigator?: object }).navigator;
  if (existing) Object.defineProperty(existing, 'gpu', { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

function fallbackRefusal(report: WebGpuAdapterReport): WebGpuUnavailable {
  return new WebGpuUnavailable('fallback-only', `only a software WebGPU adapter was found (${formatAdapter(report)}): it emulates a GPU on the CPU and trains far slower than wasm`,
    'Install the GPU\'s Vulkan driver for a real adapter. To use the software adapter anyway (tests), set MOCO_WEBGPU_ALLOW_FALLBACK=1.', report);
}

async function registerOnce(env: Readonly<Record<string, string | undefined>>): Promise<Registered> {
  const dawnBackend = env.MOCO_WEBGPU_DAWN?.trim().toLowerCase() === 'opengl' ? 'opengl' : 'default';
  let webgpu: { create: (flags: string[]) => GPU; globals: object };
  try {
    webgpu = (await import(WEBGPU_PACKAGE)) as typeof webgpu;
  } catch (error) {
    throw new WebGpuUnavailable('not-installed', `the optional \`webgpu\` package (Dawn) is not installed or does not load here: ${(error as Error).message}`,
      'Run `npm install webgpu@0.6.2` in the app folder (it ships prebuilt binaries for Linux, Windows and macOS; no download at install).');
  }
  if (dawnBackend === 'opengl') process.env.EGL_PLATFORM ??= 'surfaceless'; // headless EGL: no X or Wayland display needed
  // Dawn's WebGPU classes (GPUBuffer, GPUBufferUsage, ...) become globals, as in a browser: tfjs-backend-webgpu uses them.
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create(dawnBackend === 'opengl' ? ['backend=opengl'] : []);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance', ...(dawnBackend === 'opengl' ? { featureLevel: 'compatibility' } : {}) });
  if (!adapter) {
    throw new WebGpuUnavailable('no-adapter', 'no WebGPU adapter: Dawn found no usable Vulkan, Metal or D3D12 GPU',
      'Install or update the GPU driver (Linux: the Vulkan driver, e.g. mesa-vulkan-drivers for AMD/Intel or the NVIDIA driver, plus libvulkan1), then run `moco-studio doctor` again.');
  }
  // `info` (and its isFallbackAdapter) is newer than this @webgpu/types; Dawn 0.6 has both.
  const withInfo = adapter as GPUAdapter & { readonly info?: GPUAdapterInfo & { isFallbackAdapter?: boolean }; };
  const report = describeAdapter(withInfo.info ?? {}, withInfo.isFallbackAdapter, dawnBackend);
  installNavigatorGpu(gpu);
  // Imported only now: the package registers its backend at import time when navigator.gpu exists.
  const module = (await import(TFJS_WEBGPU_PACKAGE)) as { WebGPUBackend: new (device: GPUDevice, info?: GPUAdapterInfo) => tf.KernelBackend };
  const limits = adapter.limits;
  let device: GPUDevice;
  try {
    // The limits the stock factory asks for (the defaults are too small for large convolutions).
    device = await adapter.requestDevice({
      requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (error) {
    throw new WebGpuUnavailable('device-failed', `the WebGPU adapter (${formatAdapter(report)}) refused a device: ${(error as Error).message}`, 'Update the GPU driver; training uses wasm meanwhile.');
  }
  const info = withInfo.info;
  tf.removeBackend('webgpu'); // the stock factory, registered by the import above
  tf.registerBackend('webgpu', () => new module.WebGPUBackend(device, info));
  return { adapter: report };
}

/**
 * Registers our 'webgpu' tfjs backend (once per process) and returns its adapter; throws a
 * WebGpuUnavailable saying why not. Does not make it current (tf.setBackend does).
 * A software adapter is registered but refused unless allowed, so a later call may allow it.
 */
export async function registerWebGpuBackend(options: WebGpuOptions = {}): Promise<WebGpuAdapterReport> {
  const env = options.env ?? process.env;
  const platform = webGpuPlatformProblem(options);
  if (platform) throw platform;
  const allowFallback = options.allowFallbackAdapter ?? env.MOCO_WEBGPU_ALLOW_FALLBACK === '1';
  registered ??= registerOnce(env);
  let adapter: WebGpuAdapterReport;
  try {
    adapter = (await registered).adapter;
  } catch (error) {
    registered = null; // a driver installed meanwhile, or the package: the next call tries again
    throw error;
  }
  if (adapter.software && !allowFallback) throw fallbackRefusal(adapter);
  return adapter;
}
