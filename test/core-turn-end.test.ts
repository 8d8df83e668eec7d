import { describe, expect, it } from 'vitest';
import { atTurnEnd } from '../src/core/turn-end';

// Writes gathered per event-loop turn: made after the poll phase, in the
// order they were asked for, each once, and one writer's failure leaves the
// others' writes made.

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('atTurnEnd', () => {
  it('runs the writers of a turn after it, in order, once each', async () => {
    const seen: string[] = [];
    for (const name of ['a', 'b', 'c']) atTurnEnd({ turnEnd: () => seen.push(name) });
    expect(seen).toEqual([]);
    await immediate();
    expect(seen).toEqual(['a', 'b', 'c']);
    await immediate();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('a writer added while the turn ends runs in the next turn', async () => {
    const seen: string[] = [];
    atTurnEnd({ turnEnd: () => { seen.push('first'); atTurnEnd({ turnEnd: () => seen.push('later') }); } });
    await immediate();
    expect(seen).toEqual(['first']);
    await immediate();
    expect(seen).toEqual(['first', 'later']);
  });

  it('makes the other writes when one throws, then reports the failure', async () => {
    const seen: string[] = [];
    const failures: unknown[] = [];
    const onError = (e: unknown): void => {
      failures.push(e);
    };
    process.prependListener('uncaughtException', onError);
    try {
      atTurnEnd({ turnEnd: () => seen.push('before') });
      atTurnEnd({ turnEnd: () => { throw new Error('broken writer'); } });
      atTurnEnd({ turnEnd: () => seen.push('after') });
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.removeListener('uncaughtException', onError);
    }
    expect(seen).toEqual(['before', 'after']);
    expect(failures.map((e) => (e as Error).message)).toEqual(['broken writer']);
  });
});
