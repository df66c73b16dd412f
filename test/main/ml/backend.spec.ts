import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { chooseBackend, parseBackendName, TFJS_NODE_GPU } from '../../../main/ml/backend.js';

describe('backend choice', () => {
  it('falls back from tensorflow to wasm and says why tensorflow was not used', async () => {
    const choice = await chooseBackend({ env: {} });
    const tensorflow = choice.attempts.find((a) => a.name === 'tensorflow');
    let nodeGpuInstalled = true;
    try {
      await import(TFJS_NODE_GPU);
    } catch {
      nodeGpuInstalled = false;
    }
    if (nodeGpuInstalled) {
      expect(choice.name).toBe('tensorflow');
    } else {
      expect(tensorflow).toMatchObject({ ok: false, reason: expect.stringMatching(/not installed/) as unknown });
      expect(choice.name).toBe('wasm');
      expect(choice.customKernels).toContain('Conv2DBackpropFilter');
    }
    expect(tf.getBackend()).toBe(choice.name);
  });

  it('honours a forced backend and the MOCO_BACKEND environment variable', async () => {
    const forced = await chooseBackend({ preferred: 'cpu' });
    expect(forced.name).toBe('cpu');
    expect(forced.attempts.filter((a) => !a.ok).map((a) => a.reason)).toEqual(['not tried: backend forced to cpu', 'not tried: backend forced to cpu', 'not tried: backend forced to cpu']);
    const fromEnv = await chooseBackend({ env: { MOCO_BACKEND: 'wasm' } });
    expect(fromEnv.name).toBe('wasm');
  });

  it('reports an unknown backend name clearly', () => {
    expect(() => parseBackendName('cuda', '--backend')).toThrow(/--backend: unknown backend "cuda"/);
    expect(parseBackendName(' WASM ')).toBe('wasm');
  });
});
