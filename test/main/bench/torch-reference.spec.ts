/**
 * The bench's reading of the PyTorch reference script (main/bench/torch-reference.ts): the timed
 * steps are those after the untimed ones, in the script's own line format; a run that does not
 * give exactly the timed steps asked for is refused rather than reported with unequal warm-ups;
 * rounds combine into medians over all their timed steps.
 */
import { describe, expect, it } from 'vitest';
import { combineTorchRounds, median, torchResult } from '../../../main/bench/torch-reference.js';

/** Lines as ../shared/bench/moco_step_torch.py prints them. */
function scriptLines(walls: readonly number[]): string[] {
  return walls.map((w, i) => `step ${i}${i === 0 ? ' (warm-up)' : ''}: loss=4.1 key fwd 29ms(cpu 57), query fwd+bwd 90ms(cpu 170), sgd 1ms(cpu 5), momentum+queue 1ms(cpu 1), total ${w}ms(cpu ${2 * w}) load=1.1`);
}

const JSON_LINE = { framework: 'torch', threads: 2, median_step_wall_ms: 150, median_step_cpu_ms: 300, img_per_s_wall: 213.33, img_per_s_cpu_per_core: 106, phases_wall_ms: { total: 150 } };

describe('the PyTorch reference figures', () => {
  it('times only the steps after the untimed ones, and keeps the script own figures apart', () => {
    const result = torchResult(JSON_LINE, scriptLines([400, 200, 150, 100, 110, 120]), 3, 3, 32);
    expect(result.timedWallMs).toEqual([100, 110, 120]);
    expect(result.median_step_wall_ms).toBe(110);
    expect(result.median_step_cpu_ms).toBe(220);
    expect(result.img_per_s_wall).toBeCloseTo(32000 / 110, 1);
    expect(result).not.toHaveProperty('img_per_s_cpu_per_core');
    expect((result.script as Record<string, unknown>).median_step_wall_ms).toBe(150);
  });

  it('refuses a run whose lines do not give exactly the timed steps asked for', () => {
    expect(torchResult(JSON_LINE, scriptLines([400, 200, 150]), 1, 3, 32)).toHaveProperty('unavailable');
    expect(torchResult(JSON_LINE, ['no step lines at all'], 1, 1, 32).unavailable).toMatch(/expected 1 timed step lines from step 1/);
  });

  it('combines rounds into medians over every timed step, each round kept', () => {
    const rounds = [
      { loadBefore: [1], ...torchResult(JSON_LINE, scriptLines([300, 100, 100]), 1, 2, 32) },
      { loadBefore: [2], ...torchResult(JSON_LINE, scriptLines([300, 200, 300]), 1, 2, 32) },
    ];
    const combined = combineTorchRounds(rounds, 32);
    expect(combined.median_step_wall_ms).toBe(150); // 100, 100, 200, 300
    expect(combined.rounds).toHaveLength(2);
    expect(combined).not.toHaveProperty('timedWallMs');
    expect(combineTorchRounds([rounds[0]!, { unavailable: 'gone' }], 32)).toEqual({ unavailable: 'gone' });
  });

  it('takes the mean of the middle two of an even count', () => {
    expect(median([1, 3])).toBe(2);
    expect(median([5, 1, 3])).toBe(3);
  });
});
