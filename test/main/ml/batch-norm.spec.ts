import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { broadcastRun, effectiveSplits, poolWindows, splitBatchNormTrain, type BatchNormVariables } from '../../../main/ml/batch-norm.js';
import { useBackend } from '../../helpers/backend.js';

function makeVars(c: number, seed: number): BatchNormVariables {
  return {
    gamma: tf.variable(tf.randomUniform([c], 0.5, 1.5, 'float32', seed)),
    beta: tf.variable(tf.randomUniform([c], -0.5, 0.5, 'float32', seed + 1)),
    runningMean: tf.variable(tf.zeros([c]), false),
    runningVar: tf.variable(tf.ones([c]), false),
  };
}

/** Plain BatchNorm of one group written with autodiff-able ops: the independent reference. */
function referenceBatchNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

describe('split BatchNorm', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('picks the largest group count that divides the batch', () => {
    expect(effectiveSplits(32, 8)).toBe(8);
    expect(effectiveSplits(12, 8)).toBe(6);
    expect(effectiveSplits(7, 8)).toBe(7);
    expect(effectiveSplits(5, 4)).toBe(1);
  });

  it('equals an ordinary BatchNorm applied to each group separately, values and gradients', () => {
    const groups = 4;
    const x = tf.randomNormal([8, 5, 3, 6], 2, 3, 'float32', 7) as tf.Tensor4D;
    const dy = tf.randomNormal([8, 5, 3, 6], 0, 1, 'float32', 8);
    const vars = makeVars(6, 1);
    const opts = { splits: groups, momentum: 0.1, epsilon: 1e-5 };

    const splitLoss = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(splitBatchNormTrain(xs, { ...vars, gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D }, opts), dy));
    const refLoss = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const parts = tf.split(xs as tf.Tensor4D, groups, 0).map((p) => referenceBatchNorm(p as tf.Tensor4D, g, b, 1e-5));
      return tf.sum(tf.mul(tf.concat(parts, 0), dy));
    };
    const y = splitBatchNormTrain(x, vars, opts);
    const yRef = tf.concat(tf.split(x, groups, 0).map((p) => referenceBatchNorm(p as tf.Tensor4D, vars.gamma, vars.beta, 1e-5)), 0);
    expect(tf.max(tf.abs(tf.sub(y, yRef))).dataSync()[0]).toBeLessThan(1e-4);

    const [dx, dg, db] = tf.grads(splitLoss)([x, vars.gamma, vars.beta]);
    const [dxRef, dgRef, dbRef] = tf.grads(refLoss)([x, vars.gamma, vars.beta]);
    // Tolerance 1e-3 absolute on O(1) gradients: float32 sums over 90 values per group.
    expect(tf.max(tf.abs(tf.sub(dx!, dxRef!))).dataSync()[0]).toBeLessThan(1e-3);
    expect(tf.max(tf.abs(tf.sub(dg!, dgRef!))).dataSync()[0]).toBeLessThan(1e-3);
    expect(tf.max(tf.abs(tf.sub(db!, dbRef!))).dataSync()[0]).toBeLessThan(1e-3);
  });

  it('plans pooling windows whose product is the group size, and broadcast runs that divide it', () => {
    expect(poolWindows(4096)).toEqual([16, 16, 16]);
    expect(poolWindows(30)).toEqual([15, 2]);
    expect(poolWindows(2 * 67)).toBeNull(); // prime factor > 64: tf.mean fallback
    expect(poolWindows(4 * 37)).toEqual([4, 37]);
    expect(broadcastRun(4096, 16)).toBe(64);
    expect(broadcastRun(30, 6)).toBe(30);
    expect(broadcastRun(64, 512)).toBe(2);
    expect(broadcastRun(4, 2048)).toBe(1);
  });

  // Group sizes that take the other code paths: 134 = 2 * 67 (no pooling plan: tf.mean) and
  // 4 (the MLP head's [N, C] input, broadcast run 4). Same tolerances as above.
  for (const shape of [[4, 67, 1, 5], [16, 7]] as const) {
    it(`matches the per-group reference for input ${JSON.stringify(shape)}`, () => {
      const groups = 2;
      const c = shape[shape.length - 1]!;
      const x = tf.randomNormal([...shape], 1, 2, 'float32', 11);
      const dy = tf.randomNormal([...shape], 0, 1, 'float32', 12);
      const vars = makeVars(c, 5);
      const opts = { splits: groups, momentum: 0.1, epsilon: 1e-5 };
      const as4d = (t: tf.Tensor): tf.Tensor4D => (t.rank === 4 ? (t as tf.Tensor4D) : tf.reshape(t, [t.shape[0]!, 1, 1, c]));
      const ref = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor =>
        tf.reshape(tf.concat(tf.split(as4d(xs), groups, 0).map((p) => referenceBatchNorm(p as tf.Tensor4D, g, b, 1e-5)), 0), xs.shape);
      const y = splitBatchNormTrain(x, vars, opts);
      expect(tf.max(tf.abs(tf.sub(y, ref(x, vars.gamma, vars.beta)))).dataSync()[0]).toBeLessThan(1e-4);
      const grads = tf.grads((xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(splitBatchNormTrain(xs, { ...vars, gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D }, opts), dy)))([x, vars.gamma, vars.beta]);
      const refGrads = tf.grads((xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ref(xs, g, b), dy)))([x, vars.gamma, vars.beta]);
      grads.forEach((gr, i) => {
        expect(tf.max(tf.abs(tf.sub(gr, refGrads[i]!))).dataSync()[0]).toBeLessThan(1e-3);
      });
    });
  }

  it('differs from a whole-batch BatchNorm when the groups differ (so the split is real)', () => {
    const a = tf.randomNormal([4, 4, 4, 3], 0, 1, 'float32', 1);
    const b = tf.randomNormal([4, 4, 4, 3], 5, 1, 'float32', 2);
    const x = tf.concat([a, b], 0);
    const vars = makeVars(3, 3);
    const split = splitBatchNormTrain(x, vars, { splits: 2, momentum: 0.1, epsilon: 1e-5 });
    const whole = splitBatchNormTrain(x, makeVars(3, 3), { splits: 1, momentum: 0.1, epsilon: 1e-5 });
    expect(tf.max(tf.abs(tf.sub(split, whole))).dataSync()[0]).toBeGreaterThan(0.5);
  });

  it('updates running statistics with the average of the groups (momentum 0.1, unbiased variance)', () => {
    const x = tf.randomNormal([6, 2, 2, 2], 3, 2, 'float32', 5) as tf.Tensor4D;
    const vars = makeVars(2, 4);
    splitBatchNormTrain(x, vars, { splits: 3, momentum: 0.1, epsilon: 1e-5 });
    const values = x.arraySync();
    for (let c = 0; c < 2; c++) {
      let meanSum = 0;
      let varSum = 0;
      for (let g = 0; g < 3; g++) {
        const xs: number[] = [];
        for (let n = g * 2; n < g * 2 + 2; n++) for (const row of values[n]!) for (const px of row) xs.push(px[c]!);
        const mu = xs.reduce((s, v) => s + v, 0) / xs.length;
        meanSum += mu;
        varSum += xs.reduce((s, v) => s + (v - mu) ** 2, 0) / (xs.length - 1);
      }
      expect(vars.runningMean.dataSync()[c]).toBeCloseTo(0.9 * 0 + 0.1 * (meanSum / 3), 4);
      expect(vars.runningVar.dataSync()[c]).toBeCloseTo(0.9 * 1 + 0.1 * (varSum / 3), 4);
    }
  });

  it('leaves no tensors behind', () => {
    const x = tf.randomNormal([4, 3, 3, 2]);
    const vars = makeVars(2, 9);
    const run = (): void => {
      tf.tidy(() => {
        tf.grads((xs: tf.Tensor) => tf.sum(splitBatchNormTrain(xs, vars, { splits: 2, momentum: 0.1, epsilon: 1e-5 })))([x]);
      });
    };
    run();
    const before = tf.memory().numTensors;
    run();
    run();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('split BatchNorm on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  // The wasm path runs the pooled reductions and long-run broadcasts on XNNPACK; compare it with
  // the cpu backend on a ResNet-like activation (group size 4 * 8 * 8 = 256 -> windows [16, 16]).
  // Tolerances: 1e-4 on y (O(1) values), 1e-3 on gradients (sums over 256 values per group).
  it('matches the cpu backend, values, gradients and running statistics', async () => {
    const shape = [16, 8, 8, 12];
    const xv = Array.from(tf.tidy(() => tf.randomNormal(shape, 0.5, 2, 'float32', 21).dataSync()));
    const dyv = Array.from(tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', 22).dataSync()));
    const run = (): Float32Array[] => {
      const vars = makeVars(12, 6);
      const x = tf.tensor(xv, shape);
      const dy = tf.tensor(dyv, shape);
      const opts = { splits: 4, momentum: 0.1, epsilon: 1e-5 };
      const f = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(splitBatchNormTrain(xs, { ...vars, gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D }, opts), dy));
      const y = splitBatchNormTrain(x, vars, opts);
      const grads = tf.grads(f)([x, vars.gamma, vars.beta]);
      return [y, ...grads, vars.runningMean, vars.runningVar].map((t) => t.dataSync() as Float32Array);
    };
    const onWasm = run();
    await useBackend('cpu');
    const onCpu = run();
    await useBackend('wasm');
    const tol = [1e-4, 1e-3, 1e-3, 1e-3, 1e-5, 1e-5];
    onWasm.forEach((a, i) => {
      let m = 0;
      for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j]! - onCpu[i]![j]!));
      expect(m).toBeLessThan(tol[i]!);
    });
  });

  it('leaves no tensors behind', () => {
    const x = tf.randomNormal([8, 4, 4, 8]);
    const vars = makeVars(8, 9);
    const run = (): void => {
      tf.tidy(() => {
        tf.grads((xs: tf.Tensor) => tf.sum(splitBatchNormTrain(xs, vars, { splits: 2, momentum: 0.1, epsilon: 1e-5 })))([x]);
      });
    };
    run();
    const before = tf.memory().numTensors;
    run();
    run();
    expect(tf.memory().numTensors).toBe(before);
  });
});
