/**
 * The PyTorch side of `npm run bench` (run.ts): one invocation of the reference script
 * (../shared/bench/moco_step_torch.py) per round, its per-step lines read back so that both sides
 * leave out the same number of untimed steps, and the rounds combined.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

export interface TorchRun {
  readonly widths: string;
  readonly batchSize: number;
  readonly imageSize: number;
  /** Timed steps wanted. */
  readonly reps: number;
  readonly threads: number;
  /** Untimed steps on this side too (the script's own warm-up step is one of them; at least 1). */
  readonly untimed: number;
}

/** The median; for an even count the mean of the middle two (not the upper one: no side favoured). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The script's JSON with its medians taken over its steps after the untimed ones (its per-step
 * lines: `step i: ... total Wms(cpu C)`); the script's own figures, over all its timed steps, are
 * kept under `script`. Refused (`unavailable`) unless exactly `reps` timed lines are read.
 */
export function torchResult(json: Record<string, unknown>, lines: readonly string[], untimed: number, reps: number, batch: number): Record<string, unknown> {
  const steps = lines.flatMap((line) => {
    const m = /^step (\d+)(?: \(warm-up\))?:.* total (\d+)ms\(cpu (\d+)\)/.exec(line);
    return m ? [{ index: Number(m[1]), wall: Number(m[2]), cpu: Number(m[3]) }] : [];
  });
  const timed = steps.filter((s) => s.index >= untimed);
  // Its medians would include untimed steps: better no figure than an unequal one.
  if (timed.length !== reps) {
    return { unavailable: `PyTorch reference: expected ${reps} timed step lines from step ${untimed} ("step i: ... total Wms(cpu C)"), read ${timed.length}; has the script's output changed?` };
  }
  const wall = median(timed.map((s) => s.wall));
  const { img_per_s_cpu_per_core: cpuPerCore, phases_wall_ms: phases, ...rest } = json;
  return {
    ...rest,
    script: { median_step_wall_ms: json.median_step_wall_ms, median_step_cpu_ms: json.median_step_cpu_ms, img_per_s_wall: json.img_per_s_wall, img_per_s_cpu_per_core: cpuPerCore, phases_wall_ms: phases },
    untimedSteps: untimed,
    stepWallMs: steps.map((s) => s.wall),
    timedWallMs: timed.map((s) => s.wall),
    timedCpuMs: timed.map((s) => s.cpu),
    median_step_wall_ms: wall,
    median_step_cpu_ms: median(timed.map((s) => s.cpu)),
    img_per_s_wall: Number(((batch * 1000) / wall).toFixed(2)),
  };
}

/** One run of the reference script, or `{ unavailable }` with the reason. */
export async function benchTorch(run: TorchRun): Promise<Record<string, unknown>> {
  const script = process.env.MOCO_TORCH_BENCH ?? resolve(process.cwd(), '../shared/bench/moco_step_torch.py');
  const python = process.env.MOCO_TORCH_PYTHON ?? '/usr/bin/python3';
  if (!existsSync(script)) return { unavailable: `reference script not found at ${script} (set MOCO_TORCH_BENCH)` };
  try {
    // Its step 0 is its own warm-up; steps 1 .. untimed-1 are the rest of the untimed steps.
    const args = [script, run.widths, String(run.batchSize), String(run.imageSize), String(run.reps + run.untimed - 1), String(run.threads)];
    const { stdout } = await promisify(execFile)(python, args, { timeout: 600_000, maxBuffer: 1 << 22 });
    const lines = stdout.trim().split('\n');
    return torchResult(JSON.parse(lines.pop() ?? '{}') as Record<string, unknown>, lines, run.untimed, run.reps, run.batchSize);
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { unavailable: `PyTorch reference failed: ${message} (apt-get install python3-torch)` };
  }
}

/** The rounds as one result: medians over every round's timed steps, and each round's own figures. */
export function combineTorchRounds(rounds: readonly Record<string, unknown>[], batch: number): Record<string, unknown> {
  const unavailable = rounds.find((r) => 'unavailable' in r);
  if (unavailable !== undefined || rounds.length === 0) return unavailable ?? { unavailable: 'no PyTorch round ran' };
  const walls = rounds.flatMap((r) => r.timedWallMs as number[]);
  const wall = median(walls);
  // The first round's description of the run (framework, threads, widths, params), without its per-round figures.
  const first = Object.fromEntries(Object.entries(rounds[0]!).filter(([k]) => !['loadBefore', 'stepWallMs', 'timedWallMs', 'timedCpuMs', 'script'].includes(k)));
  return {
    ...first,
    median_step_wall_ms: wall,
    median_step_cpu_ms: median(rounds.flatMap((r) => r.timedCpuMs as number[])),
    img_per_s_wall: Number(((batch * 1000) / wall).toFixed(2)),
    rounds: rounds.map((r) => ({ loadBefore: r.loadBefore, median_step_wall_ms: r.median_step_wall_ms, stepWallMs: r.stepWallMs, script: r.script })),
  };
}
