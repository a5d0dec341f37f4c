import { describe, expect, it } from 'vitest';
import { CliArgsError, parseCliArgs } from '../src/cli-args.ts';

describe('parseCliArgs', () => {
  it('runs N seeds from 1, or from --seed', () => {
    expect(parseCliArgs(['--seeds', '3']).seeds).toEqual([1, 2, 3]);
    expect(parseCliArgs(['--seeds', '2', '--seed', '10']).seeds).toEqual([10, 11]);
    expect(parseCliArgs(['--seed', '42']).seeds).toEqual([42]);
  });

  it('parses nodes, ops, mutation and flags', () => {
    const a = parseCliArgs(['--nodes', '5', '--ops', '100', '--mutation', 'votesBeforePersist', '--fail-fast', '-v']);
    expect(a).toMatchObject({ nodes: 5, ops: 100, mutation: 'votesBeforePersist', failFast: true, verbose: true, durability: 'strict' });
    expect(parseCliArgs(['--durability', 'relaxed', '--remove-leader'])).toMatchObject({ durability: 'relaxed', removeLeader: true });
  });

  it('refuses bad input with a typed error', () => {
    const kind = (argv: string[]): string | undefined => {
      try {
        parseCliArgs(argv);
        return undefined;
      } catch (e) {
        return e instanceof CliArgsError ? e.kind : 'other';
      }
    };
    expect(kind(['--seeds'])).toBe('MissingValue');
    expect(kind(['--seeds', 'x'])).toBe('BadNumber');
    expect(kind(['--nodes', '0'])).toBe('BadNumber');
    expect(kind(['--frobnicate'])).toBe('UnknownFlag');
    expect(kind(['--mutation', 'nope'])).toBe('UnknownMutation');
    expect(kind(['--durability', 'eventual'])).toBe('BadDurability');
  });
});
