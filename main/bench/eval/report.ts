/** The eval harness's result per folder, and its markdown table (issue 10). */
import type { KnnScores } from './score.js';

export interface FolderResult {
  readonly folder: string;
  readonly description: string;
  readonly classes: number;
  readonly trainImages: number;
  readonly testImages: number;
  readonly imageSize: number;
  readonly budgetMinutes: number;
  readonly trainSeconds: number;
  readonly stoppedByBudget: boolean;
  readonly steps: number;
  readonly epochs: number;
  /** 1-minute load average before and after training, and the machine's cores: timings are only comparable at similar load. */
  readonly load: { readonly before: number; readonly after: number; readonly cores: number };
  readonly pixels: KnnScores;
  readonly randomInit: KnnScores;
  readonly trained: KnnScores;
  /** Which embedding `trained` is: `<encoder>/<representation>`, the product's choice. */
  readonly embedding: string;
  readonly alternatives: Record<string, KnnScores>;
  readonly curve: readonly { epoch: number; meanLoss: number; knnTop1: number | null; seconds: number }[];
  readonly settings: Record<string, unknown>;
  readonly trainFlags: readonly string[];
}

const f3 = (x: number): string => x.toFixed(3);

/** Does the trained embedding win by the issue's margin (0.05 at k = 200) over both baselines? */
export function wins(result: FolderResult, margin = 0.05): boolean {
  return result.trained.k200 >= result.pixels.k200 + margin && result.trained.k200 >= result.randomInit.k200 + margin;
}

export function formatMarkdown(results: readonly FolderResult[]): string {
  const lines = [
    '| folder | train / test, classes | px | budget, steps (epochs), load | pixels k200 / k20 | random init k200 / k20 | trained k200 / k20 | wins by 0.05 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(`| ${r.folder} | ${r.trainImages} / ${r.testImages}, ${r.classes} | ${r.imageSize} | ${r.budgetMinutes} min${r.stoppedByBudget ? '' : ` (done in ${(r.trainSeconds / 60).toFixed(1)})`}, ${r.steps} (${r.epochs}), ${r.load.before.toFixed(1)}-${r.load.after.toFixed(1)} on ${r.load.cores} | ${f3(r.pixels.k200)} / ${f3(r.pixels.k20)} | ${f3(r.randomInit.k200)} / ${f3(r.randomInit.k20)} | ${f3(r.trained.k200)} / ${f3(r.trained.k20)} | ${wins(r) ? 'yes' : 'no'} |`);
  }
  lines.push('', 'Other embeddings of the same runs (k200 / k20):', '', '| folder | ' + Object.keys(results[0]?.alternatives ?? {}).join(' | ') + ' |', '|---|' + Object.keys(results[0]?.alternatives ?? {}).map(() => '---|').join(''));
  for (const r of results) lines.push(`| ${r.folder} | ${Object.values(r.alternatives).map((s) => `${f3(s.k200)} / ${f3(s.k20)}`).join(' | ')} |`);
  lines.push('', 'kNN monitor (leave-one-out on train) per epoch:', '');
  for (const r of results) lines.push(`- ${r.folder}: ${r.curve.map((c) => (c.knnTop1 === null ? '-' : f3(c.knnTop1))).join(' ')}`);
  return lines.join('\n');
}
