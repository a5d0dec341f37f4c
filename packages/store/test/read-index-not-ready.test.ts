/**
 * A ReadIndex that no quorum confirms in time (a leader cut off from its followers, before
 * CheckQuorum deposes it) answers `ReadIndexNotReady`, not `Timeout` (issue 12). Nothing was
 * proposed, so the request had no effect: the client retries it safely and never counts a
 * write undetermined for it. Reads (`txnGet`, `txnReadIndex`) and a write command that found
 * nothing to propose (its answer rests on a ReadIndex after its local read) answer so; a write
 * that proposed and then waited in vain stays `Timeout`: its entry may still commit. A replica
 * read's replica that does not catch up to the leader's read index in time answers it too: it
 * is behind, not gone (the client reads elsewhere and does not suspect its store).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REGION, closeAll, cluster, k, leader, prewrite, put, router, send, stores, ts, value } from './txn-harness.ts';

afterEach(closeAll);

/** Election ticks of 10 ms: the cut-off leader keeps leading (CheckQuorum) for 3 s, longer than the test's waits. */
const LEADER_OUTLASTS_WAITS = { raft: { electionTicks: 300 } };
/** How long each request waits for its ReadIndex or proposal, ms. */
const WAIT_MS = 200;

describe('a ReadIndex no quorum confirms in time', () => {
  it('answers ReadIndexNotReady for reads and for a write command that proposes nothing; a proposed write stays Timeout', async () => {
    await cluster(undefined, LEADER_OUTLASTS_WAITS);
    const s1 = await leader();
    value(await prewrite(ts(100), [put('a', '1')], k('a'), { mode: { kind: 'onePc' } }, s1));
    router.partition([s1.storeId], [1, 2, 3].filter((id) => id !== s1.storeId));

    const read = await send({ type: 'txnGet', key: k('a'), ts: ts(200), timeoutMs: WAIT_MS }, s1);
    expect(read).toMatchObject({ ok: false, error: { kind: 'ReadIndexNotReady', regionId: REGION.id } });
    const index = await send({ type: 'txnReadIndex', start: k('a'), ts: ts(200), timeoutMs: WAIT_MS }, s1);
    expect(index).toMatchObject({ ok: false, error: { kind: 'ReadIndexNotReady', regionId: REGION.id } });
    // A 1PC prewrite below the newer commit of `a`: WriteConflict, nothing to propose, and the
    // answer waits for a ReadIndex confirming the local read.
    const conflict = await prewrite(ts(50), [put('a', '2')], k('a'), { mode: { kind: 'onePc' }, timeoutMs: WAIT_MS }, s1);
    expect(conflict).toMatchObject({ ok: false, error: { kind: 'ReadIndexNotReady', regionId: REGION.id } });
    // A 1PC prewrite that proposes: its entry may still commit, so its outcome is unknown.
    const proposed = await prewrite(ts(300), [put('b', '1')], k('b'), { mode: { kind: 'onePc' }, timeoutMs: WAIT_MS }, s1);
    expect(proposed).toMatchObject({ ok: false, error: { kind: 'Timeout' } });
    expect(s1.status().regions.find((r) => r.regionId === REGION.id)?.role).toBe('leader');
  });
});

describe('a replica read on a replica that cannot catch up in time', () => {
  it('answers ReadIndexNotReady (not Timeout) while behind, and the value once caught up', async () => {
    // The cut-off replica stays a follower for the test's waits (a candidate fails its waits with `NotLeader`).
    await cluster(undefined, LEADER_OUTLASTS_WAITS);
    const s1 = await leader();
    const [behind, current] = [...stores.values()].map((n) => n.store).filter((s) => s !== s1);
    router.partition([behind.storeId], [1, 2, 3].filter((id) => id !== behind.storeId));
    value(await prewrite(ts(100), [put('a', '1')], k('a'), { mode: { kind: 'onePc' } }, s1));
    // Above the 1PC commit ts (the leader's maxTs was synced from the fake TSO, at ts(1_000_000)).
    const READ_TS = ts(2_000_000);
    const { appliedIndex } = value(await send({ type: 'txnReadIndex', start: k('a'), ts: READ_TS }, s1));

    const replicaGet = { type: 'txnReplicaGet' as const, key: k('a'), ts: READ_TS, appliedIndex, timeoutMs: WAIT_MS };
    const lagging = await send(replicaGet, behind);
    expect(lagging).toMatchObject({ ok: false, error: { kind: 'ReadIndexNotReady', regionId: REGION.id } });
    if (!lagging.ok) expect(lagging.error.kind === 'ReadIndexNotReady' && lagging.error.reason).toContain(`read index ${appliedIndex}`);
    const scan = await send({ type: 'txnReplicaScan', start: k('a'), limit: 10, ts: READ_TS, appliedIndex, timeoutMs: WAIT_MS }, behind);
    expect(scan).toMatchObject({ ok: false, error: { kind: 'ReadIndexNotReady', regionId: REGION.id } });
    // The replica that is caught up serves the same read.
    expect(value(await send(replicaGet, current)).value).toEqual(k('1'));

    router.heal();
    expect(value(await send({ ...replicaGet, timeoutMs: 5_000 }, behind)).value).toEqual(k('1'));
  });
});
