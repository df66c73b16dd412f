/**
 * Where the time of one MoCo training step goes on wasm, kernel by kernel (issue 9: "profile
 * first"). Every kernel registered on 'wasm' is wrapped with a wall-clock timer (wasm kernels run
 * synchronously, so the wall time around a kernel call is its time); kernels that our wasm
 * training kernels call internally (Conv2D inside Conv2DBackpropInput, ...) are counted apart
 * as nested, so the top-level figures add up to the step. Conv2D is further split by filter size
 * and input channels, the shapes that decide XNNPACK's speed.
 *
 *   npm run -s bench:profile -- [--width 1] [--steps 2] [--batch 32] [--size 32]
 *
 * Prints one JSON document: step wall and CPU ms, per phase ms, and per kernel: calls and ms
 * (means over the timed steps; wall time, so compare kernels within one run).
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // gradients are registered by the union package
import '@tensorflow/tfjs-backend-wasm';
import { Moco, type PhaseTimes } from '../ml/moco.js';
import { SgdMomentum } from '../ml/optimizer.js';
import { registerWasmTrainingKernels } from '../ml/wasm-kernels/index.js';

interface Tally { calls: number; ms: number }

function parse(argv: readonly string[]): { width: number; steps: number; batch: number; size: number } {
  const get = (flag: string, fallback: number): number => {
    const i = argv.indexOf(flag);
    if (i < 0) return fallback;
    const v = Number(argv[i + 1]);
    if (!(v > 0)) throw new Error(`${flag}: expected a positive number, got ${argv[i + 1]}`);
    return v;
  };
  return { width: get('--width', 1), steps: get('--steps', 2), batch: get('--batch', 32), size: get('--size', 32) };
}

/** A label that separates the conv shapes: name, filter KHxKW, stride, Ci->Co, input H. */
function label(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap | undefined): string {
  if (name === 'Conv2D' || name === 'FusedConv2D') {
    const x = inputs.x!.shape;
    const f = inputs.filter!.shape;
    const s = attrs?.strides as number | number[] | undefined;
    const stride = Array.isArray(s) ? s[0] : s;
    return `${name} ${f[0]}x${f[1]}/${stride} ${f[2]}->${f[3]} @${x[1]}x${x[2]} n${x[0]}`;
  }
  if (name === 'Conv2DBackpropFilter') {
    const f = attrs?.filterShape as number[];
    return `${name} ${f[0]}x${f[1]} ${f[2]}->${f[3]} @${inputs.x!.shape[1]}`;
  }
  if (name === 'Conv2DBackpropInput') {
    const f = inputs.filter!.shape;
    return `${name} ${f[0]}x${f[1]} ${f[2]}->${f[3]} @${(attrs?.inputShape as number[])[1]}`;
  }
  return name;
}

function wrapKernels(top: Map<string, Tally>, nested: Map<string, Tally>): void {
  let depth = 0;
  for (const config of tf.getKernelsForBackend('wasm')) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        const key = label(name, args.inputs, args.attrs);
        const t0 = performance.now();
        depth++;
        try {
          return inner(args);
        } finally {
          depth--;
          const table = depth === 0 ? top : nested;
          const tally = table.get(key) ?? { calls: 0, ms: 0 };
          tally.calls++;
          tally.ms += performance.now() - t0;
          table.set(key, tally);
        }
      },
    });
  }
}

const round = (v: number): number => Math.round(v * 10) / 10;

async function main(): Promise<void> {
  const { width, steps, batch, size } = parse(process.argv.slice(2));
  await tf.setBackend('wasm');
  await tf.ready();
  registerWasmTrainingKernels();
  const top = new Map<string, Tally>();
  const nested = new Map<string, Tally>();
  wrapKernels(top, nested);

  const encoder = { architecture: 'resnet18', widthMultiplier: width, smallImageStem: true, head: 'linear', dim: 128, bnSplits: 8 } as const;
  const moco = new Moco({ encoder, queueSize: 4096, keyMomentum: 0.99, temperature: 0.2, shuffleKeys: true }, batch, 0);
  const sgd = new SgdMomentum({ learningRate: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: { kind: 'constant' }, warmupEpochs: 0 });
  const xq = tf.randomUniform<tf.Rank.R4>([batch, size, size, 3]);
  const xk = tf.randomUniform<tf.Rank.R4>([batch, size, size, 3]);
  const loadBefore = loadavg();
  await moco.trainStep(xq, xk, sgd, 0.03); // warm-up: XNNPACK operator creation, heap growth
  top.clear();
  nested.clear();
  const phases: PhaseTimes = {};
  const stepMs: number[] = [];
  const stepCpuMs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await moco.trainStep(xq, xk, sgd, 0.03, phases);
    const c = process.cpuUsage(c0);
    stepCpuMs.push((c.user + c.system) / 1000);
    stepMs.push(performance.now() - t0);
  }
  const table = (m: Map<string, Tally>): Record<string, { calls: number; ms: number }> =>
    Object.fromEntries([...m.entries()].sort((a, b) => b[1].ms - a[1].ms).map(([k, t]) => [k, { calls: t.calls / steps, ms: round(t.ms / steps) }]));
  const kernelMs = [...top.values()].reduce((a, t) => a + t.ms, 0) / steps;
  const calls = [...top.values()].reduce((a, t) => a + t.calls, 0) / steps;
  const report = {
    width, batch, size, steps,
    load: { before: loadBefore.map(round), after: loadavg().map(round) },
    stepMs: stepMs.map(round),
    // CPU time of this process: the step runs on this thread, so this is its compute time, robust
    // to the load of other processes (compare with PyTorch's median_step_cpu_ms).
    stepCpuMs: stepCpuMs.map(round),
    phasesMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, round(v / steps)])),
    topLevelKernelMs: round(kernelMs),
    topLevelKernelCalls: calls,
    outsideKernelsMs: round(stepMs.reduce((a, b) => a + b, 0) / steps - kernelMs),
    kernels: table(top),
    nestedInOurKernels: table(nested),
  };
  tf.dispose([xq, xk]);
  moco.dispose();
  sgd.dispose();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
