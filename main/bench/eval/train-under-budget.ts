/**
 * Trains one folder exactly as a user does, through the real CLI and trainer process
 * (`moco-studio train <folder> --json`), and stops it with Ctrl-C (SIGINT: the CLI asks the
 * trainer to finish the step and checkpoint) when the wall-clock budget is spent. The clock
 * starts at launch, so decoding the folder counts against the budget as it does for a user.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../cli/bin.js', import.meta.url));

export interface BudgetRun {
  readonly runDirectory: string;
  /** Seconds from launch to exit. */
  readonly seconds: number;
  /** True when the budget ran out before the run's epochs did. */
  readonly stoppedByBudget: boolean;
  /** `train --json`'s summary. */
  readonly summary: Record<string, unknown>;
}

export async function trainUnderBudget(options: { folder: string; runDirectory: string; dataDirectory: string; budgetSeconds: number; extraFlags: readonly string[]; onLine?: (line: string) => void }): Promise<BudgetRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'train', options.folder, '--json', '--run-dir', options.runDirectory, ...options.extraFlags], {
    env: { ...process.env, MOCO_STUDIO_HOME: options.dataDirectory },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderrTail = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
    for (const line of chunk.split(/[\r\n]+/)) if (/^(epoch \d+:|Settings:|kNN top-1 baselines)/.test(line)) options.onLine?.(line);
  });
  let stoppedByBudget = false;
  const timer = setTimeout(() => {
    stoppedByBudget = true;
    child.kill('SIGINT');
  }, options.budgetSeconds * 1000);
  // A stop that hangs is a failure, not a wait: kill after a grace period.
  const grace = setTimeout(() => { child.kill('SIGKILL'); }, (options.budgetSeconds + 120) * 1000);
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c); }); });
  clearTimeout(timer);
  clearTimeout(grace);
  const seconds = (performance.now() - started) / 1000;
  let summary: Record<string, unknown>;
  try {
    summary = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`train ${options.folder} exited with code ${code} and no JSON summary; its last output:\n${stderrTail}`);
  }
  if (summary.ok !== true) throw new Error(`train ${options.folder} failed: ${String(summary.error)}\n${stderrTail}`);
  return { runDirectory: options.runDirectory, seconds, stoppedByBudget, summary };
}
