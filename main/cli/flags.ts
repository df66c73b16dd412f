/**
 * Command-line flag checks that run before anything is created (issue 13, item 12): errors name
 * the flag (not the settings field) and the accepted range; negative numbers are values, not
 * options; a flag of another command is refused rather than silently ignored.
 */
import type { z } from 'zod';
import { parseTrainingSettings, trainingSettingsSchema, type TrainingSettings } from '../../shared/training-settings.js';

/** Number flags of `train` and the settings field each sets. */
export const NUMBER_FLAGS: Readonly<Record<string, keyof TrainingSettings>> = {
  epochs: 'epochs', batch: 'batchSize', 'image-size': 'imageSize', width: 'widthMultiplier', 'queue-size': 'queueSize',
  momentum: 'keyMomentum', temperature: 'temperature', lr: 'learningRate', 'bn-splits': 'bnSplits', seed: 'seed',
  'checkpoint-minutes': 'checkpointMinutes',
};

const CHOICE_FLAGS: Readonly<Record<string, keyof TrainingSettings>> = { arch: 'architecture', preset: 'preset', backend: 'backend' };

/** Which flags each command takes (besides --help); everything else is refused with the command's name. */
export const COMMAND_FLAGS: Readonly<Record<string, readonly string[]>> = {
  train: [...Object.keys(NUMBER_FLAGS), ...Object.keys(CHOICE_FLAGS), 'run-dir', 'resume', 'sample', 'init', 'json'],
  embed: ['json'],
  neighbours: ['k', 'json'],
  knn: ['train', 'test', 'k', 'json'],
  sample: ['per-class', 'size', 'seed'],
  serve: ['port', 'host', 'no-open'],
  doctor: ['seconds', 'quick', 'cpu', 'json'],
  import: ['folder', 'name', 'image-size', 'no-embed', 'json'],
  export: ['format', 'out', 'layout', 'for', 'nodes', 'gpus-per-node', 'json'],
};

/**
 * `--lr -1` and `-k -5` become `--lr=-1` and `-k=-5`: node's parseArgs would otherwise read "-1"
 * as an option and answer "Did you forget to specify the option argument".
 */
export function joinNegativeValues(args: readonly string[], valueFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : arg.startsWith('-') && arg.length === 2 ? arg.slice(1) : null;
    if (name !== null && valueFlags.has(name) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Refuses flags that belong to other commands: `train --port 80` must not train as if it were fine. */
export function assertFlagsOf(command: string, values: Record<string, unknown>): void {
  const allowed = new Set([...(COMMAND_FLAGS[command] ?? []), 'help']);
  for (const flag of Object.keys(values)) {
    if (allowed.has(flag)) continue;
    const owners = Object.entries(COMMAND_FLAGS).filter(([, flags]) => flags.includes(flag)).map(([name]) => name);
    throw new Error(`--${flag} is not an option of "${command}"${owners.length > 0 ? ` (it belongs to ${owners.join(', ')})` : ''}; see moco-studio ${command} --help`);
  }
}

/** "a whole number from 1 to 10000", "a number above 0, at most 10": read off the schema itself. */
export function acceptedRange(schema: z.ZodNumber): string {
  const min = schema.minValue;
  const max = schema.maxValue;
  const kind = /int/.test(schema.format ?? '') ? 'a whole number' : 'a number';
  const hasMin = min !== null && Number.isFinite(min);
  const hasMax = max !== null && Number.isFinite(max);
  const minIn = hasMin && schema.safeParse(min).success;
  const maxIn = hasMax && schema.safeParse(max).success;
  if (minIn && maxIn) return `${kind} from ${min} to ${max}`;
  const lower = hasMin ? (minIn ? `at least ${min}` : `above ${min}`) : '';
  const upper = hasMax ? (maxIn ? `at most ${max}` : `below ${max}`) : '';
  return `${kind} ${[lower, upper].filter((part) => part !== '').join(' and ')}`.trim();
}

function fieldSchema(field: keyof TrainingSettings): z.ZodType {
  return (trainingSettingsSchema.shape[field] as z.ZodOptional<z.ZodType>).unwrap();
}

export function settingsFromFlags(values: Record<string, string | boolean | undefined>): TrainingSettings {
  const raw: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(NUMBER_FLAGS)) {
    const value = values[flag];
    if (typeof value !== 'string') continue;
    const schema = fieldSchema(field) as z.ZodNumber;
    const number = Number(value);
    if (value.trim() === '' || !Number.isFinite(number)) throw new Error(`--${flag}: expected a number, got "${value}" (accepted: ${acceptedRange(schema)})`);
    if (!schema.safeParse(number).success) throw new Error(`--${flag} ${value}: out of range; accepted: ${acceptedRange(schema)}`);
    raw[field] = number;
  }
  for (const [flag, field] of Object.entries(CHOICE_FLAGS)) {
    const value = values[flag];
    if (typeof value !== 'string') continue;
    const schema = fieldSchema(field) as z.ZodEnum;
    if (!schema.safeParse(value).success) throw new Error(`--${flag} ${value}: not a choice; accepted: ${schema.options.join(', ')}`);
    raw[field] = value;
  }
  return parseTrainingSettings(raw);
}
