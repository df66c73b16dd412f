/**
 * The webgpu backend (issue 8), for real, on a software adapter (no GPU on CI): Dawn's OpenGL
 * backend on Mesa llvmpipe (EGL surfaceless; ~15x slower than wasm here), or SwiftShader Vulkan
 * from Debian's chromium package when no GL adapter exists. MoCo on webgpu must be the MoCo of
 * wasm: the same step from the same seed, and checkpoints that move between the two backends.
 * And a short run on webgpu learns: one epoch (9 steps) lifts the product's kNN (standardised
 * backbone features, leave-one-out) clearly above the same encoder at random initialisation.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_CLASSES } from '../../../main/core/sample-images.js';
import { chooseBackend, initialiseBackend } from '../../../main/ml/backend.js';
import { shortLearningRun } from '../../helpers/short-learning-run.js';
import { exportTrainingState, importTrainingState, type TrainingState } from '../../../main/ml/training-state.js';
import { MocoTrainer } from '../../../main/ml/trainer.js';
import { registerWebGpuBackend, type WebGpuAdapterReport } from '../../../main/ml/webgpu-backend.js';
import { loadLatestCheckpoint, saveCheckpoint } from '../../../main/trainer/checkpoint.js';
import { tinySampleImages, tinyTrainingConfig } from '../../helpers/tiny-training.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const config = tinyTrainingConfig();
const images = tinySampleImages(3); // 30 images: 3 steps of 8

/**
 * Tolerance: float32 kernels that sum in another order (GPU reductions, convolution tiling).
 * Measured here: 6e-6 after 4 steps on either software adapter. Weights, queue and velocities
 * are O(0.1-1), so 1e-4 absolute leaves 15x headroom and still catches any wrong kernel.
 */
const TOLERANCE = 1e-4;

type Group = 'query parameters' | 'key encoder (momentum update)' | 'queue' | 'SGD velocity (gradients)' | 'BatchNorm buffers';

function groupOf(name: string): Group {
  if (name === 'queue') return 'queue';
  if (name.startsWith('sgd/velocity/')) return 'SGD velocity (gradients)';
  if (/running|moving/i.test(name)) return 'BatchNorm buffers';
  return name.startsWith('key/') ? 'key encoder (momentum update)' : 'query parameters';
}

/** Max absolute difference per group of tensors (both states from the same configuration). */
function differences(a: TrainingState, b: TrainingState): Map<Group, number> {
  expect(a.tensors.map((t) => t.name)).toEqual(b.tensors.map((t) => t.name));
  const out = new Map<Group, number>();
  for (const [i, t] of a.tensors.entries()) {
    const other = b.tensors[i]!.values;
    let max = 0;
    for (let j = 0; j < t.values.length; j++) max = Math.max(max, Math.abs(t.values[j]! - other[j]!));
    const g = groupOf(t.name);
    out.set(g, Math.max(out.get(g) ?? 0, max));
  }
  return out;
}

function expectClose(a: TrainingState, b: TrainingState, what: string): void {
  const diff = differences(a, b);
  console.log(`${what}: ${[...diff].map(([g, d]) => `${g} ${d.toExponential(1)}`).join(', ')}`);
  for (const [group, d] of diff) expect(d, `${what}: ${group}`).toBeLessThanOrEqual(TOLERANCE);
  expect(a.meta).toEqual(b.meta); // queue pointer, RNG states, epoch and step: exactly equal
}

async function on(backend: 'wasm' | 'webgpu'): Promise<void> {
  await initialiseBackend(backend, { allowFallbackAdapter: true });
  expect(tf.getBackend()).toBe(backend);
}

/** Trains `steps` steps on `backend`, from `state` or the seed; returns the losses and the new state. */
async function train(backend: 'wasm' | 'webgpu', steps: number, state?: TrainingState): Promise<{ losses: number[]; state: TrainingState }> {
  await on(backend);
  const trainer = new MocoTrainer(config);
  try {
    if (state) importTrainingState(trainer, state);
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push((await trainer.trainStep(images)).metrics.loss);
    return { losses, state: await exportTrainingState(trainer) };
  } finally {
    trainer.dispose();
  }
}

/** Dawn's OpenGL backend on llvmpipe first (faster here), SwiftShader Vulkan otherwise; null when neither exists. */
async function softwareAdapter(): Promise<WebGpuAdapterReport | null> {
  try {
    return await registerWebGpuBackend({ allowFallbackAdapter: true, env: { MOCO_WEBGPU_DAWN: 'opengl' } });
  } catch {
    if (!existsSync(SWIFTSHADER_ICD)) return null;
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD; // read by the Vulkan loader when Dawn starts
    try {
      return await registerWebGpuBackend({ allowFallbackAdapter: true, env: {} });
    } catch {
      return null;
    }
  }
}

const adapter = await softwareAdapter();
// Stated reason, printed in the test output: the suite runs wherever .ci/run has installed its packages.
const reason = 'no software WebGPU adapter: install Debian\'s chromium (SwiftShader), libvulkan1, libegl1 and libgl1-mesa-dri (llvmpipe)';
if (!adapter) console.warn(`webgpu.spec skipped: ${reason}`);

describe.skipIf(adapter === null)('webgpu backend (software adapter)', () => {
  let dir: string;
  beforeAll(async () => {
    console.log(`adapter: ${JSON.stringify(adapter)}`);
    dir = await mkdtemp(join(tmpdir(), 'moco-webgpu-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses the software adapter unless asked, and falls back to wasm saying why', async () => {
    const choice = await chooseBackend({ preferred: 'webgpu', env: {}, allowFallbackAdapter: false });
    expect(choice.name).toBe('wasm');
    expect(choice.attempts.find((a) => a.name === 'webgpu')).toMatchObject({ ok: false, reason: expect.stringMatching(/only a software WebGPU adapter/) as unknown });
    const allowed = await chooseBackend({ preferred: 'webgpu', env: { MOCO_WEBGPU_ALLOW_FALLBACK: '1' } });
    expect(allowed.name).toBe('webgpu');
    expect(allowed.adapter).toMatchObject({ software: true });
  });

  it('one MoCo step on webgpu equals the wasm step: loss, gradients, momentum update, queue', async () => {
    const wasm = await train('wasm', 1);
    const gpu = await train('webgpu', 1);
    console.log(`loss wasm ${wasm.losses[0]} webgpu ${gpu.losses[0]}`);
    expect(Math.abs(gpu.losses[0]! - wasm.losses[0]!)).toBeLessThanOrEqual(1e-5 * Math.abs(wasm.losses[0]!));
    expectClose(gpu.state, wasm.state, 'one step, webgpu vs wasm');
    // The comparison can fail: one more step on one side is far outside the tolerance.
    const further = await train('wasm', 1, wasm.state);
    expect(Math.max(...differences(further.state, gpu.state).values())).toBeGreaterThan(10 * TOLERANCE);
  });

  it('a checkpoint from wasm resumes on webgpu, and one from webgpu on wasm, as wasm would have gone on', async () => {
    const straight = await train('wasm', 3);
    const first = await train('wasm', 1);
    await saveCheckpoint(join(dir, 'wasm'), config, first.state);
    const fromWasm = (await loadLatestCheckpoint(join(dir, 'wasm'))).checkpoint!.state;
    const second = await train('webgpu', 1, fromWasm);
    await saveCheckpoint(join(dir, 'webgpu'), config, second.state);
    const fromGpu = (await loadLatestCheckpoint(join(dir, 'webgpu'))).checkpoint!.state;
    const third = await train('wasm', 1, fromGpu);
    expect([...first.losses, ...second.losses, ...third.losses].map((l) => l.toFixed(4))).toEqual(straight.losses.map((l) => l.toFixed(4)));
    expectClose(third.state, straight.state, 'wasm -> webgpu -> wasm vs wasm straight');
  });

  it('leaks no tensor over N steps on webgpu', async () => {
    await on('webgpu');
    const trainer = new MocoTrainer(config);
    await trainer.trainStep(images);
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await trainer.trainStep(images);
    expect(tf.memory().numTensors).toBe(afterFirst);
    await exportTrainingState(trainer);
    expect(tf.memory().numTensors).toBe(afterFirst);
    trainer.dispose();
  });

  it('a short run on webgpu learns: its kNN is above random init', async () => {
    await on('webgpu');
    const { randomInit, trained, steps } = await shortLearningRun();
    console.log(`webgpu, ${steps} MoCo steps: kNN top-1 (leave-one-out, ${SAMPLE_CLASSES.length} classes) random init ${randomInit.toFixed(3)}, trained ${trained.toFixed(3)}`);
    expect(trained).toBeGreaterThan(randomInit + 0.1);
  });
});
