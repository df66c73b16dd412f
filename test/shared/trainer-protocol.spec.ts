import { describe, expect, it } from 'vitest';
import { parseTrainerCommand, parseTrainerEvent } from '../../shared/trainer-protocol.js';

describe('trainer protocol', () => {
  it('accepts well-formed commands and events', () => {
    expect(parseTrainerCommand({ type: 'stop' })).toEqual({ type: 'stop' });
    const start = { type: 'start', folder: '/x', runDirectory: '/r', cacheDirectory: '/c', userSettings: { epochs: 2 }, resume: false };
    expect(parseTrainerCommand(start)).toEqual(start);
    expect(parseTrainerEvent({ type: 'loading', done: 1, total: 2 })).toEqual({ type: 'loading', done: 1, total: 2 });
  });

  it('rejects malformed messages with the offending field', () => {
    expect(() => parseTrainerCommand({ type: 'format-disk' })).toThrow(/Invalid trainer command/);
    expect(() => parseTrainerCommand({ type: 'start', folder: '', runDirectory: '/r', cacheDirectory: '/c', userSettings: {}, resume: false })).toThrow(/folder/);
    expect(() => parseTrainerCommand({ type: 'start', folder: '/x', runDirectory: '/r', cacheDirectory: '/c', userSettings: { epochs: -1 }, resume: false })).toThrow(/userSettings\.epochs/);
    expect(() => parseTrainerCommand({ type: 'stop', extra: 1 })).toThrow(/Invalid trainer command/);
    expect(() => parseTrainerEvent({ type: 'progress', epoch: 'one' })).toThrow(/Invalid trainer event/);
    expect(() => parseTrainerCommand(null)).toThrow(/Invalid trainer command/);
  });
});
