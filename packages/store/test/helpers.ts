/** Helpers the store's multi-store tests share: waiting on real timers, a stub PD, finding a region's leader. */
import type { OperatorStep, PdApplyResult, Region, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import type { PdClient, RegionHeartbeatResponse, Result, Store } from '../src/index.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 10 ms until it holds; throws `timed out waiting for <what>` after `timeoutMs`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A PD for stores under test: records region heartbeats, hands out ids from 1000, acknowledges
 * everything else, and answers a region's next heartbeat with the step put in `stepsOnce`.
 */
export class StubPd implements PdClient {
  readonly heartbeats: RegionHeartbeat[] = [];
  /** The store heartbeats received, in order. */
  readonly storeStats: StoreStats[] = [];
  /** One step per region id, handed out (and removed) at that region's next heartbeat. */
  readonly stepsOnce = new Map<number, OperatorStep>();
  private nextId = 1000;
  storeHeartbeat(stats: StoreStats): Promise<Result<PdApplyResult>> {
    this.storeStats.push(stats);
    return Promise.resolve({ ok: true, value: { kind: 'none' } as unknown as PdApplyResult });
  }
  regionHeartbeat(hb: RegionHeartbeat): Promise<Result<RegionHeartbeatResponse>> {
    this.heartbeats.push(hb);
    const step = this.stepsOnce.get(hb.region.id);
    this.stepsOnce.delete(hb.region.id);
    return Promise.resolve({ ok: true, value: step ? { step } : {} });
  }
  allocId(): Promise<Result<number>> {
    return Promise.resolve({ ok: true, value: this.nextId++ });
  }
  getTimestamps(): Promise<Result<{ first: bigint; count: number }>> {
    return Promise.resolve({ ok: false, error: { kind: 'ServerIsBusy', reason: 'no TSO in this test', backoffMs: 0 } });
  }
  putStore(): Promise<Result<PdApplyResult>> {
    return Promise.resolve({ ok: true, value: { kind: 'none' } as unknown as PdApplyResult });
  }
}

/** The store among `stores` leading region `regionId`, waiting (`until`) for one. */
export async function leaderOf(stores: () => Iterable<Store>, regionId: number): Promise<Store> {
  let leader: Store | undefined;
  await until(`a leader of region ${regionId}`, () => {
    for (const s of stores()) if (s.status().regions.find((r) => r.regionId === regionId && r.role === 'leader')) leader = s;
    return leader !== undefined;
  });
  return leader!;
}

/** A whole-keyspace region with a voter on each of stores 1, 2 and 3 (peers 11, 12, 13). */
export function threeVoters(regionId: number): Region {
  return {
    id: regionId,
    startKey: new Uint8Array(),
    endKey: new Uint8Array(),
    epoch: { confVer: 1, version: 1 },
    peers: [11, 12, 13].map((id, i) => ({ id, storeId: i + 1, role: 'voter' as const })),
  };
}

/** A whole-keyspace region on stores 1 and 2 (peers 11, 12) with a witness on store 3 (peer 13). */
export function twoFullOneWitness(regionId: number): Region {
  const region = threeVoters(regionId);
  region.peers[2] = { ...region.peers[2], witness: true };
  return region;
}
