/**
 * The lock resolver's async-commit decision against a scripted routing: every secondary is
 * checked before the transaction is called committed, also when a split moves a group's keys
 * apart mid-check (`regroup`). Before the fix the re-queued keys were skipped and an expired
 * async-commit transaction with a rolled-back secondary was committed (sim --txn seed 49, G1a).
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import type { StoreRequest } from '@peerkv/store';
import { composeTs, type Lock } from '@peerkv/txn';
import { BACKOFF_DEFAULT, REAL_CLOCK } from '../src/backoff.ts';
import type { KvService, RegionRoute } from '../src/services.ts';
import { LockResolver } from '../src/txn/lock-resolver.ts';
import type { RegionRequestOutcome, TxnRouting } from '../src/txn/routing.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const region: Region = { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: 5, storeId: 1, role: 'voter' }] };
const route: RegionRoute = { region, leader: region.peers[0] };

const startTs = composeTs(1_000);
const primaryLock: Lock = {
  kind: 'put',
  primary: k('p'),
  startTs,
  ttlMs: 10,
  forUpdateTs: 0n,
  txnSize: 3,
  minCommitTs: startTs + 1n,
  useAsyncCommit: true,
  secondaries: [k('a'), k('b')],
};

/** A routing whose stores answer from `answer`, and whose first secondary check of a group of two keys is `regroup` (a split moved them apart). */
function scripted(answer: (q: StoreRequest) => unknown): { routing: TxnRouting; sent: StoreRequest[] } {
  const sent: StoreRequest[] = [];
  let regrouped = false;
  const svc = {
    storeId: 1,
    handle: async (q: StoreRequest) => {
      sent.push(q);
      return { ok: true, value: answer(q) };
    },
  } as unknown as KvService;
  const send = async <T>(_locate: Uint8Array, keys: readonly Uint8Array[] | undefined, fn: (r: RegionRoute, s: KvService) => Promise<unknown>): Promise<RegionRequestOutcome<T>> => {
    if (!regrouped && keys !== undefined && keys.length > 1) {
      regrouped = true;
      return { kind: 'regroup', ambiguous: false };
    }
    const r = (await fn(route, svc)) as { ok: true; value: T };
    return { kind: 'applied', value: r.value, ambiguous: false };
  };
  const routing: TxnRouting = {
    clock: REAL_CLOCK,
    random: () => 0.5,
    backoff: BACKOFF_DEFAULT,
    requestTimeoutMs: 1000,
    send,
    sendToReplica: send,
    askReplica: async () => undefined,
    markBehind: () => undefined,
    route: async () => route,
    getTimestamp: async () => composeTs(60_000),
  };
  return { routing, sent };
}

describe('LockResolver, async commit', () => {
  it('checks every secondary after a regroup: one rolled back makes the transaction rolled back, never committed', async () => {
    const { routing, sent } = scripted((q) => {
      if (q.type === 'txnCheckStatus') return { ok: true, value: { kind: 'locked', lock: primaryLock, minCommitTsPushed: false } };
      if (q.type === 'txnCheckSecondaryLocks') return { ok: true, value: { statuses: q.keys.map((key) => (text(key) === 'b' ? { kind: 'rolledBack' } : { kind: 'locked', lock: { ...primaryLock, secondaries: [] } })) } };
      if (q.type === 'txnResolveLock') return { ok: true, value: undefined };
      throw new Error(`unexpected ${q.type}`);
    });
    const resolver = new LockResolver(routing);
    await resolver.resolve([{ kind: 'KeyIsLocked', key: k('a'), primary: k('p'), startTs, ttlMs: 10, lockKind: 'put', minCommitTs: startTs + 1n }], 0n);
    const checked = sent.filter((q) => q.type === 'txnCheckSecondaryLocks').flatMap((q) => (q.type === 'txnCheckSecondaryLocks' ? q.keys.map(text) : []));
    expect(checked.sort()).toEqual(['a', 'b']);
    const resolutions = sent.filter((q) => q.type === 'txnResolveLock');
    expect(resolutions.length).toBeGreaterThan(0);
    // Rolled back (no commit ts) on the primary first, then the lock met.
    expect(resolutions.every((q) => q.type === 'txnResolveLock' && q.commitTs === undefined)).toBe(true);
  });
});
