/**
 * A checkpoint is data, never code (issue 11): pickles that name any global beyond tensors,
 * storages and OrderedDict are refused naming it, and truncated or damaged files get a clear
 * error naming the file and what is wrong, never a crash or a hang.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readTorchCheckpoint } from '../../../main/interop/torch-checkpoint.js';
import { importTorchModel } from '../../../main/interop/torch-import.js';
import { writeStoredZip } from '../../../main/interop/zip-archive.js';
import { fixtureBytes } from './fixtures.js';

/** What `pickle.dumps(E(), protocol=2)` emits for `class E: def __reduce__(self): return (os.system, ('touch /tmp/pwned',))` on Linux. */
function reducePickle(module: string, name: string, argument: string): Buffer {
  const arg = Buffer.from(argument, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(arg.length);
  return Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from(`c${module}\n${name}\n`, 'latin1'), Buffer.from([0x71, 0x00, 0x58]), length, arg, Buffer.from([0x71, 0x01, 0x85, 0x71, 0x02, 0x52, 0x71, 0x03, 0x2e])]);
}

/** Protocol 4's STACK_GLOBAL form of the same attack: builtins.eval("...") . */
function stackGlobalPickle(): Buffer {
  const short = (s: string): Buffer => Buffer.concat([Buffer.from([0x8c, s.length]), Buffer.from(s, 'latin1')]);
  return Buffer.concat([Buffer.from([0x80, 0x04]), short('builtins'), short('eval'), Buffer.from([0x93]), short('1+1'), Buffer.from([0x85, 0x52, 0x2e])]);
}

const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe('restricted unpickler', () => {
  it('refuses a __reduce__ of os.system (posix.system) in a legacy-style pickle, naming the global', () => {
    expect(() => readTorchCheckpoint(reducePickle('posix', 'system', 'touch /tmp/pwned'), 'evil.pth')).toThrow(/evil\.pth.*refused the Python global "posix\.system"/);
  });

  it('refuses os.system inside a zip-format checkpoint (data.pkl)', () => {
    const zip = writeStoredZip([{ name: 'archive/data.pkl', data: reducePickle('os', 'system', 'id') }, { name: 'archive/version', data: Buffer.from('3\n') }]);
    expect(() => readTorchCheckpoint(zip, 'evil.pth')).toThrow(/refused the Python global "os\.system"/);
  });

  it('refuses STACK_GLOBAL builtins.eval (protocol 4)', () => {
    const zip = writeStoredZip([{ name: 'archive/data.pkl', data: stackGlobalPickle() }]);
    expect(() => readTorchCheckpoint(zip, 'evil.pth')).toThrow(/refused the Python global "builtins\.eval"/);
  });

  it.skipIf(!hasTorch)('refuses what torch.save writes for an object whose __reduce__ runs os.system (real PyTorch)', () => {
    const script = 'import os, sys, torch\nclass E:\n    def __reduce__(self):\n        return (os.system, ("touch /tmp/moco-studio-pwned",))\ntorch.save({"state_dict": E()}, sys.stdout.buffer)\n';
    const made = spawnSync(PYTHON, ['-c', script], { maxBuffer: 1 << 20 });
    expect(made.status).toBe(0);
    expect(() => readTorchCheckpoint(made.stdout, 'evil.pth')).toThrow(/refused the Python global "posix\.system"/);
  });
});

describe('damaged checkpoint files', () => {
  const zip = fixtureBytes('tv-resnet18-zip.pth.gz');
  const legacy = fixtureBytes('tv-resnet18-legacy.pth.gz');
  const load = (bytes: Uint8Array): unknown => importTorchModel(readTorchCheckpoint(bytes, 'model.pth'), 'model.pth');

  it('reads the intact files', () => {
    expect(() => load(zip)).not.toThrow();
    expect(() => load(legacy)).not.toThrow();
  });

  it('a truncated zip checkpoint', () => {
    expect(() => load(zip.subarray(0, Math.floor(zip.length * 0.6)))).toThrow(/model\.pth: .*(truncated|not a ZIP)/);
  });

  it('a zip checkpoint with a flipped byte in a storage (CRC-32)', () => {
    const damaged = Buffer.from(zip);
    const middle = Math.floor(damaged.length / 2);
    damaged[middle] = damaged[middle]! ^ 0xff;
    expect(() => load(damaged)).toThrow(/model\.pth: .*(CRC-32 mismatch|damaged)/);
  });

  it('a truncated legacy checkpoint, cut in the pickle and in the storages', () => {
    expect(() => load(legacy.subarray(0, 400))).toThrow(/model\.pth.*truncated/);
    expect(() => load(legacy.subarray(0, legacy.length - 100))).toThrow(/model\.pth: storage .* cut off: the file is truncated/);
  });

  it('not a checkpoint at all, and an empty file', () => {
    expect(() => load(Buffer.from('hello, this is text\n'))).toThrow(/model\.pth: not a PyTorch checkpoint/);
    expect(() => load(Buffer.alloc(0))).toThrow(/model\.pth: not a PyTorch checkpoint/);
  });

  it('a state dict that is not a ResNet, or misses keys, names the keys', () => {
    const truncatedDict = writeStoredZip([{ name: 'archive/data.pkl', data: Buffer.from([0x80, 0x02, 0x7d, 0x2e]) }]);
    expect(() => load(truncatedDict)).toThrow(/no conv1\.weight/);
  });
});
