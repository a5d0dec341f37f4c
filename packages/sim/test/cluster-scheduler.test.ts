/**
 * The cluster mode's building blocks: virtual time (order, cancellation, no wall clock), the
 * region-coverage check, and the CLI's argument parsing.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { ClusterCliError, VirtualScheduler, coverageProblem, overlapProblem, parseClusterArgs } from '../src/cluster/index.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const region = (id: number, start: string, end: string): Region => ({ id, startKey: enc(start), endKey: enc(end), epoch: { confVer: 1, version: 1 }, peers: [] });

describe('VirtualScheduler', () => {
  it('fires timers in due order (ties in scheduling order), settling promises in between', async () => {
    const s = new VirtualScheduler(1, 0);
    const seen: string[] = [];
    s.setTimeout(() => seen.push('b@20'), 20);
    s.setTimeout(() => {
      seen.push('a@10');
      void Promise.resolve().then(() => seen.push('a-continuation'));
    }, 10);
    s.setTimeout(() => seen.push('c@20'), 20);
    const cancelled = s.setTimeout(() => seen.push('never'), 15);
    s.clearTimeout(cancelled);
    await s.runFor(100);
    expect(seen).toEqual(['a@10', 'a-continuation', 'b@20', 'c@20']);
    expect(s.now()).toBe(100);
  });

  it('sleeps and awaits in virtual time only, and its chance is seeded', async () => {
    const s = new VirtualScheduler(7, 1000);
    const r = await s.await(
      (async () => {
        await s.sleep(5_000);
        return s.now();
      })(),
      10_000,
    );
    expect(r).toEqual({ value: 6_000 });
    expect(await s.await(new Promise(() => undefined), 50)).toBeUndefined();
    const a = new VirtualScheduler(3);
    const b = new VirtualScheduler(3);
    expect([a.random(), a.random()]).toEqual([b.random(), b.random()]);
  });

  it('records a timer callback that throws instead of stopping the run', async () => {
    const s = new VirtualScheduler(1, 0);
    s.setTimeout(() => {
      throw new Error('boom');
    }, 1);
    let later = false;
    s.setTimeout(() => (later = true), 2);
    await s.runFor(10);
    expect(s.callbackErrors.map((e) => String(e.error))).toEqual(['Error: boom']);
    expect(later).toBe(true);
  });
});

describe('coverageProblem', () => {
  it('accepts regions that tile the key space', () => {
    expect(coverageProblem([region(2, 'k05', ''), region(1, '', 'k05')])).toBeUndefined();
  });

  it('reports gaps, overlaps and open ends', () => {
    expect(coverageProblem([region(1, '', 'k03'), region(2, 'k05', '')])).toMatch(/gap/);
    expect(coverageProblem([region(1, '', 'k05'), region(2, 'k03', '')])).toMatch(/overlap/);
    expect(coverageProblem([region(1, 'a', '')])).toMatch(/start of the key space/);
    expect(coverageProblem([region(1, '', 'z')])).toMatch(/end of the key space/);
    expect(coverageProblem([])).toMatch(/no data region/);
  });
});

describe('overlapProblem', () => {
  it('accepts disjoint regions with gaps (PD learns split halves late) and reports overlaps', () => {
    expect(overlapProblem([region(1, '', 'k03'), region(2, 'k05', '')])).toBeUndefined();
    expect(overlapProblem([region(2, 'k03', 'k09'), region(1, '', 'k05')])).toMatch(/region 1 .* region 2 .* overlap/);
    expect(overlapProblem([region(1, '', ''), region(2, 'k05', '')])).toMatch(/overlap/);
  });
});

describe('parseClusterArgs', () => {
  it('parses seeds, a single seed and the mutation', () => {
    expect(parseClusterArgs(['--cluster', '--seeds', '3']).seeds).toEqual([1, 2, 3]);
    expect(parseClusterArgs(['--cluster', '--seed', '42']).seeds).toEqual([42]);
    expect(parseClusterArgs(['--seeds', '2', '--seed', '5', '--mutation', 'staleReads'])).toEqual({ seeds: [5, 6], verbose: false, tear: false, durability: 'strict', mutation: 'staleReads' });
    expect(parseClusterArgs(['--tear', '--durability', 'relaxed'])).toMatchObject({ tear: true, durability: 'relaxed' });
    expect(parseClusterArgs(['--mutation', 'diskWriteFailure']).mutation).toBe('diskWriteFailure');
    expect(parseClusterArgs(['--patrol', '1']).patrol).toBe(1);
    expect(parseClusterArgs([]).patrol).toBeUndefined();
  });

  it('refuses bad input with a typed error', () => {
    const kind = (argv: string[]): string | undefined => {
      try {
        parseClusterArgs(argv);
      } catch (e) {
        return e instanceof ClusterCliError ? e.kind : 'other';
      }
      return undefined;
    };
    expect(kind(['--seeds'])).toBe('MissingValue');
    expect(kind(['--seeds', '0'])).toBe('BadNumber');
    expect(kind(['--bogus'])).toBe('UnknownFlag');
    expect(kind(['--mutation', 'nope'])).toBe('UnknownMutation');
    expect(kind(['--durability', 'eventual'])).toBe('BadDurability');
    expect(kind(['--patrol', '0'])).toBe('BadNumber');
    expect(kind(['--patrol'])).toBe('MissingValue');
  });
});
