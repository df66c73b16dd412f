/**
 * The torchrun hand-off's flags against main_moco.py's own argument parser (issue 11).
 *
 * With MOCO_REFERENCE_DIR pointing at a checkout of facebookresearch/moco (and python3-torch
 * installed), the real script's `parser` (argparse, built when main_moco is imported; main() is
 * not run) parses our command lines and the parsed values are checked. Without it, the same
 * command lines are parsed against MAIN_MOCO_FLAGS, the flag list read from main_moco.py's
 * source (names, value counts and types only), so a renamed or mistyped flag still fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mainMocoCommands, mainMocoFlags } from '../../../main/interop/torchrun-job.js';
import { resolveSettings, type ResolvedSettings } from '../../../shared/training-settings.js';

/** main_moco.py's arguments (facebookresearch/moco, 2020): flag -> value kind ('flag' = store_true, 'ints' = nargs='*' of int). */
const MAIN_MOCO_FLAGS: Record<string, 'int' | 'float' | 'str' | 'flag' | 'ints'> = {
  '-a': 'str', '--arch': 'str', '-j': 'int', '--workers': 'int', '--epochs': 'int', '--start-epoch': 'int', '-b': 'int', '--batch-size': 'int',
  '--lr': 'float', '--learning-rate': 'float', '--schedule': 'ints', '--momentum': 'float', '--wd': 'float', '--weight-decay': 'float',
  '-p': 'int', '--print-freq': 'int', '--resume': 'str', '--world-size': 'int', '--rank': 'int', '--dist-url': 'str', '--dist-backend': 'str',
  '--seed': 'int', '--gpu': 'int', '--multiprocessing-distributed': 'flag', '--moco-dim': 'int', '--moco-k': 'int', '--moco-m': 'float',
  '--moco-t': 'float', '--mlp': 'flag', '--aug-plus': 'flag', '--cos': 'flag',
};
const DEST: Record<string, string> = { '-a': 'arch', '-b': 'batch_size', '--learning-rate': 'lr', '--wd': 'weight_decay', '-j': 'workers', '-p': 'print_freq' };

/** argparse's behaviour for that list: every flag known, values of the right type, one positional (data). */
function parseWithDerivedList(argv: readonly string[]): Record<string, unknown> {
  // store_true flags default to False, as in argparse.
  const parsed: Record<string, unknown> = Object.fromEntries(Object.entries(MAIN_MOCO_FLAGS).filter(([, kind]) => kind === 'flag').map(([flag]) => [flag.slice(2).replace(/-/g, '_'), false]));
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) {
      positionals.push(token);
      continue;
    }
    const kind = MAIN_MOCO_FLAGS[token];
    if (!kind) throw new Error(`main_moco.py: error: unrecognized arguments: ${token}`);
    const dest = DEST[token] ?? token.replace(/^--/, '').replace(/-/g, '_');
    if (kind === 'flag') {
      parsed[dest] = true;
    } else if (kind === 'ints') {
      const values: number[] = [];
      while (i + 1 < argv.length && /^-?\d+$/.test(argv[i + 1]!)) values.push(Number(argv[++i]));
      parsed[dest] = values;
    } else {
      const value = argv[++i];
      if (value === undefined) throw new Error(`main_moco.py: error: argument ${token}: expected one argument`);
      const number = Number(value);
      if (kind === 'int' && !/^-?\d+$/.test(value)) throw new Error(`main_moco.py: error: argument ${token}: invalid int value: '${value}'`);
      if (kind === 'float' && !Number.isFinite(number)) throw new Error(`main_moco.py: error: argument ${token}: invalid float value: '${value}'`);
      parsed[dest] = kind === 'str' ? value : number;
    }
  }
  if (positionals.length !== 1) throw new Error(`main_moco.py: error: expected one data directory, got ${positionals.length}`);
  parsed.data = positionals[0];
  return parsed;
}

const reference = process.env.MOCO_REFERENCE_DIR;
const realScript = reference && existsSync(join(reference, 'main_moco.py')) && spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0 ? join(reference, 'main_moco.py') : null;

/** Parses with the real script's parser when available (prints vars(args) as JSON), else with the derived list. */
function parse(argv: readonly string[]): Record<string, unknown> {
  if (!realScript) return parseWithDerivedList(argv);
  const code = 'import json, sys\nsys.path.insert(0, sys.argv[1])\nimport main_moco\nprint(json.dumps(vars(main_moco.parser.parse_args(sys.argv[2:]))))';
  const result = spawnSync('/usr/bin/python3', ['-c', code, reference!, ...argv], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const distributed = ['--dist-url', 'tcp://localhost:10001', '--multiprocessing-distributed', '--world-size', '2', '--rank', '1', '/data/job/data'];

describe(`main_moco.py flags (${realScript ? `the real parser of ${realScript}` : 'the flag list derived from main_moco.py; set MOCO_REFERENCE_DIR for the real parser'})`, () => {
  const v2: ResolvedSettings = resolveSettings({ preset: 'v2', head: 'mlp', batchSize: 32, learningRate: 0.06 }, 1000, 'wasm').settings;
  const v1: ResolvedSettings = resolveSettings({ preset: 'v1', batchSize: 64, epochs: 50 }, 1000, 'wasm').settings;

  it('maps a v2 run: --mlp --aug-plus --cos, K/m/T/dim, lr scaled to the global batch', () => {
    const mapping = mainMocoFlags(v2, 2, 8);
    const args = parse([...mapping.flags, ...distributed]);
    expect(mapping.globalBatch).toBe(512);
    expect(args).toMatchObject({
      arch: 'resnet18', batch_size: 256, lr: (0.06 * 512) / 32, moco_dim: v2.dim, moco_m: v2.keyMomentum, moco_t: v2.temperature,
      mlp: true, aug_plus: true, cos: true, epochs: v2.epochs, weight_decay: v2.weightDecay, seed: v2.seed, multiprocessing_distributed: true, world_size: 2, rank: 1,
    });
    // K must be a multiple of the global batch (main_moco.py asserts it): ours (480) is rounded up, and said so.
    expect(args.moco_k).toBe(512);
    expect(mapping.unmapped.join('\n')).toMatch(/K: 480 is not a multiple of the global batch 512/);
  });

  it('maps a v1 run: no --mlp/--aug-plus/--cos, step schedule at 60 % and 80 %', () => {
    const mapping = mainMocoFlags(v1, 1, 4);
    const args = parse([...mapping.flags, ...distributed]);
    expect(args).toMatchObject({ schedule: [30, 40], mlp: false, aug_plus: false, cos: false, lr: (v1.learningRate * 256) / 64 });
  });

  it('names every setting that does not carry over, and refuses a batch the GPUs cannot split', () => {
    const text = mainMocoFlags(v2, 1, 8).unmapped.join('\n');
    for (const phrase of ['image size: 32 px', 'small-image stem', 'width multiplier 0.125', 'BatchNorm groups', 'initial weights', 'Gaussian blur']) expect(text).toContain(phrase);
    expect(() => mainMocoFlags(v2, 1, 3)).toThrow(/multiple of --gpus-per-node 3/);
  });

  it('accepts the job\'s single-node and multi-node command lines as written', () => {
    const { singleNode, multiNode } = mainMocoCommands(mainMocoFlags(v2, 4, 8).flags, '/jobs/my job/data', 4);
    // The shell's word splitting of these lines (simple words, one single-quoted path, two "$VAR" words).
    const words = (line: string): string[] => [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!).slice(2);
    expect(parse(words(singleNode))).toMatchObject({ world_size: 1, rank: 0, data: '/jobs/my job/data', dist_url: 'tcp://localhost:10001' });
    expect(parse(words(multiNode.replace('$MASTER_ADDR', '10.0.0.1').replace('$RANK', '3')))).toMatchObject({ world_size: 4, rank: 3, dist_url: 'tcp://10.0.0.1:10001', batch_size: 256 });
  });

  it('the parser itself rejects a wrong flag (the check can fail)', () => {
    expect(() => parse(['--moco-queue', '4096', '/data'])).toThrow(/unrecognized arguments: --moco-queue/);
  });
});
