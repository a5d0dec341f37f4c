/**
 * `QuorumWatch` on a virtual clock: rounds back off from `QUORUM_RETRY_MS_MIN` to
 * `QUORUM_RETRY_MS_MAX` while PD or a region leader is missing, count their attempts and say
 * why; the first good round is `ok` and checks again every `QUORUM_OK_CHECK_MS`; `status()`
 * shows a lost leader at once.
 */
import { describe, expect, it } from 'vitest';
import type { RegionError } from '@peerkv/pd';
import { QUORUM_OK_CHECK_MS, QUORUM_RETRY_MS_MAX, QUORUM_RETRY_MS_MIN, QuorumWatch, type Result, type StoreStatus, type Timers } from '../src/index.ts';

/** Timers on a virtual clock, run by `advance`. */
class VirtualTimers implements Timers {
  nowMs = 0;
  private next = 1;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.nowMs;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.due.set(id, { at: this.nowMs + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.due.delete(h as number);
  }
  /** The delay of the one pending timer, ms. */
  pendingMs(): number {
    const all = [...this.due.values()];
    expect(all.length).toBe(1);
    return all[0].at - this.nowMs;
  }
  /** Runs the pending timer and lets its round finish. */
  async fire(): Promise<void> {
    const [id, t] = [...this.due.entries()].sort((x, y) => x[1].at - y[1].at)[0];
    this.due.delete(id);
    this.nowMs = t.at;
    t.fn();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

function region(regionId: number, lead: number, stores: number[]): StoreStatus['regions'][number] {
  return {
    regionId,
    peerId: 0,
    startKey: new Uint8Array(),
    endKey: new Uint8Array(),
    epoch: { confVer: 1, version: 1 },
    peers: stores.map((storeId) => ({ id: storeId * 10, storeId, role: 'voter' as const })),
    role: 'follower',
    term: 1,
    lead,
    commit: 0,
    applied: 0,
    hibernating: false,
  };
}

describe('QuorumWatch', () => {
  it('backs off while waiting, says why, turns ok when PD answers and every region has a reachable leader', async () => {
    const timers = new VirtualTimers();
    let pd: Result<{ first: bigint; count: number }> = { ok: false, error: { kind: 'NotLeader', regionId: 1 } satisfies RegionError };
    let members: number[] = [];
    // Store 1 holds a replica of region 2 with store 2; the leader (peer 20) is on store 2.
    const w = new QuorumWatch({
      storeId: 1,
      status: () => ({ storeId: 1, counters: { rounds: 0, writes: 0, snapshotsGenerated: 0, snapshotsInstalled: 0, logCompactions: 0 }, regions: [region(2, members.includes(2) ? 20 : 0, [1, 2])] }),
      members: () => members,
      getTimestamps: async () => pd,
      timers,
      now: () => timers.nowMs,
    });
    expect(w.status()).toMatchObject({ state: 'waiting', attempts: 0, regionsWithoutLeader: [2], unreachableStores: [2] });
    const delays: number[] = [];
    await timers.fire();
    for (let i = 0; i < 7; i++) {
      delays.push(timers.pendingMs());
      await timers.fire();
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000].map((x) => Math.min(x, QUORUM_RETRY_MS_MAX)));
    expect(delays[0]).toBe(QUORUM_RETRY_MS_MIN);
    const waiting = w.status();
    expect(waiting).toMatchObject({ state: 'waiting', attempts: 8, pdReachable: false });
    expect(waiting.lastError).toBe('PD unreachable (NotLeader); no leader for region 2 (stores 2 not connected)');

    // PD answers, the region not yet: still waiting, for the region only.
    pd = { ok: true, value: { first: 1n, count: 1 } };
    await timers.fire();
    expect(w.status()).toMatchObject({ state: 'waiting', attempts: 9, pdReachable: true, lastError: 'no leader for region 2 (stores 2 not connected)' });

    // Store 2 is back and leads: ok, attempts reset, checked every QUORUM_OK_CHECK_MS.
    members = [2];
    await timers.fire();
    expect(w.status()).toMatchObject({ state: 'ok', attempts: 0, regionsWithoutLeader: [], unreachableStores: [] });
    expect(w.status().lastError).toBeUndefined();
    expect(timers.pendingMs()).toBe(QUORUM_OK_CHECK_MS);

    // Store 2 leaves: status says so at once and brings the next round forward.
    members = [];
    expect(w.status()).toMatchObject({ state: 'waiting', regionsWithoutLeader: [2], lastError: 'no leader for region 2 (stores 2 not connected)' });
    expect(timers.pendingMs()).toBe(QUORUM_RETRY_MS_MIN);
    // Asking again does not push that round back.
    timers.nowMs += 100;
    w.status();
    expect(timers.pendingMs()).toBe(QUORUM_RETRY_MS_MIN - 100);
    await timers.fire();
    expect(w.status()).toMatchObject({ state: 'waiting', attempts: 1 });
    w.close();
  });
});
