/** The concurrency manager: maxTs only grows; the in-memory lock table hides reads like a lock in the engine. */
import { describe, expect, it } from 'vitest';
import { TS_MAX, type Lock } from '@peerkv/txn';
import { ConcurrencyManager } from '../src/txn/concurrency-manager.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);

function lock(startTs: bigint, minCommitTs: bigint, kind: Lock['kind'] = 'put'): Lock {
  return { kind, primary: k('p'), startTs, ttlMs: 1000, forUpdateTs: 0n, txnSize: 1, minCommitTs, useAsyncCommit: true, secondaries: [] };
}

describe('concurrency manager', () => {
  it('maxTs only grows and ignores TS_MAX', () => {
    const cm = new ConcurrencyManager();
    expect(cm.maxTs()).toBe(0n);
    cm.updateMaxTs(10n);
    cm.updateMaxTs(5n);
    cm.updateMaxTs(TS_MAX);
    expect(cm.maxTs()).toBe(10n);
  });

  it('a key in the table hides nothing until its lock is set, then hides reads at or above minCommitTs', () => {
    const cm = new ConcurrencyManager();
    const g = cm.lockKeys([k('a'), k('b')]);
    expect(cm.readCheckKey(k('a'), 100n, [])).toBeUndefined();
    g.setLock(k('a'), lock(10n, 20n));
    expect(cm.readCheckKey(k('a'), 19n, [])).toBeUndefined();
    expect(cm.readCheckKey(k('a'), 20n, [])).toMatchObject({ kind: 'KeyIsLocked', startTs: 10n, minCommitTs: 20n });
    expect(cm.readCheckKey(k('a'), 20n, [10n])).toBeUndefined();
    expect(cm.readCheckKey(k('b'), 20n, [])).toBeUndefined();
    g.release();
    expect(cm.readCheckKey(k('a'), 20n, [])).toBeUndefined();
    expect(cm.memoryLocks).toBe(0);
  });

  it('a lock-only lock hides nothing; a range check finds the first hiding lock', () => {
    const cm = new ConcurrencyManager();
    const g = cm.lockKeys([k('c'), k('e'), k('g')]);
    g.setLock(k('c'), lock(10n, 11n, 'lock'));
    g.setLock(k('e'), lock(10n, 11n));
    g.setLock(k('g'), lock(10n, 11n));
    expect(cm.readCheckRange(k('a'), k('z'), 50n, [])).toMatchObject({ key: k('e') });
    expect(cm.readCheckRange(k('f'), undefined, 50n, [])).toMatchObject({ key: k('g') });
    expect(cm.readCheckRange(k('a'), k('e'), 50n, [])).toBeUndefined();
    g.release();
  });

  it('two guards on one key keep it until both release', () => {
    const cm = new ConcurrencyManager();
    const a = cm.lockKeys([k('x')]);
    const b = cm.lockKeys([k('x')]);
    a.setLock(k('x'), lock(1n, 2n));
    a.release();
    expect(cm.memoryLocks).toBe(1);
    expect(cm.readCheckKey(k('x'), 5n, [])).toBeDefined();
    b.release();
    expect(cm.memoryLocks).toBe(0);
  });
});
