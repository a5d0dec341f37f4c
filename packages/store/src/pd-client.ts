/**
 * How a store reaches the placement driver: `PdClient` sends heartbeats, id and timestamp requests to
 * the PD leader wherever it is. `LocalPdClient` finds it among stores in one process; a
 * remote client does the same over the transport's request/response RPC.
 */
import type { GcRegisterResult, OperatorStep, PdApplyResult, PdCommand, PdStateMachine, Peer, Region, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import type { Result } from './peer.ts';
import type { RequestOptions } from './request-options.ts';
import type { TxnAnswer, TxnDetectDeadlockRequest } from './txn/types.ts';

/** What a region heartbeat returns: the next operator step for the region, if any. */
export interface RegionHeartbeatResponse {
  step?: OperatorStep;
}

export interface PdClient {
  storeHeartbeat(stats: StoreStats, o?: RequestOptions): Promise<Result<PdApplyResult>>;
  regionHeartbeat(hb: RegionHeartbeat, o?: RequestOptions): Promise<Result<RegionHeartbeatResponse>>;
  allocId(o?: RequestOptions): Promise<Result<number>>;
  /** `count` consecutive timestamps from PD's TSO (the first is returned); a new leader syncs its `maxTs` with one. */
  getTimestamps(count: number, o?: RequestOptions): Promise<Result<{ first: bigint; count: number }>>;
  /** PD's GC safe point as some PD replica has applied it (may lag, never lead). Optional: the store's GC worker then collects nothing. */
  getGcSafePoint?(o?: RequestOptions): Promise<Result<bigint>>;
  /**
   * PD's view of a region, PD's own group included (for finding replicas that were removed
   * while their store was away, and placing the peers of a replacement). Optional.
   */
  getRegionById?(regionId: number, o?: RequestOptions): Promise<Result<{ region: Region; leader?: Peer } | undefined>>;
  /** Joins a store (storeId 0 asks for a new id); `publicKey`: its identity key, recorded once (`PutStoreCommand`). */
  putStore(storeId: number, address: string, labels: Record<string, string>, o?: RequestOptions, publicKey?: Uint8Array): Promise<Result<PdApplyResult>>;
  /**
   * Asks the deadlock detector, which runs on the store whose PD replica leads
   * (`handlers/txn-deadlock.ts`). Optional: without it lock waits are never found deadlocked,
   * they only time out.
   */
  detectDeadlock?(q: TxnDetectDeadlockRequest, o?: RequestOptions): Promise<Result<TxnAnswer<void>>>;
  /**
   * Registers (refreshes; `ttlMs` 0 removes) a GC service's oldest start ts with the PD
   * leader's keeper: the store's GC worker holds the safe point behind its oldest lock with it.
   * Optional: without it the worker still resolves locks but cannot hold the safe point back.
   */
  registerGcService?(serviceId: string, minStartTs: bigint, ttlMs: number, o?: RequestOptions): Promise<Result<GcRegisterResult>>;
}

/**
 * What `LocalPdClient` needs of a store that may host a PD replica (a `Store` is one): whether
 * its replica leads, and the PD calls that leader serves.
 */
export interface PdHostingStore {
  pdIsLeader(): boolean;
  pdPropose(cmd: PdCommand, o?: RequestOptions): Promise<Result<PdApplyResult>>;
  pdHandleRegionHeartbeat(hb: RegionHeartbeat, o?: RequestOptions): Promise<Result<RegionHeartbeatResponse>>;
  pdHandleStoreHeartbeat(stats: StoreStats, nowMs: number, o?: RequestOptions): Promise<Result<PdApplyResult>>;
  pdAllocId(o?: RequestOptions): Promise<Result<number>>;
  pdGetTimestamps(count: number, o?: RequestOptions): Promise<Result<{ first: bigint; count: number }>>;
  /** Serves a deadlock detector request (a `Store` does; optional for stand-ins). */
  handle?(q: TxnDetectDeadlockRequest, o?: RequestOptions): Promise<Result<TxnAnswer<void>>>;
  pdState(): Pick<PdStateMachine, 'getReplicatedRegionById' | 'gcSafePoint'> | undefined;
  /** Registers a GC service on this store's PD leader replica (a `Store` does; optional for stand-ins). */
  pdRegisterGcService?(serviceId: string, minStartTs: bigint, ttlMs: number): Result<GcRegisterResult>;
}

/** The PD client of stores in one process: calls the store whose PD replica leads. */
export class LocalPdClient implements PdClient {
  /** `now` stamps PD commands (a simulator passes its virtual clock). */
  constructor(
    private readonly stores: () => Iterable<PdHostingStore>,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private leader(): PdHostingStore | undefined {
    for (const s of this.stores()) if (s.pdIsLeader()) return s;
    return undefined;
  }

  private noLeader<T>(): Result<T> {
    return { ok: false, error: { kind: 'NotLeader', regionId: 1 } };
  }

  storeHeartbeat(stats: StoreStats, o?: RequestOptions): Promise<Result<PdApplyResult>> {
    const l = this.leader();
    return l ? l.pdHandleStoreHeartbeat(stats, this.now(), o) : Promise.resolve(this.noLeader());
  }

  regionHeartbeat(hb: RegionHeartbeat, o?: RequestOptions): Promise<Result<RegionHeartbeatResponse>> {
    const l = this.leader();
    return l ? l.pdHandleRegionHeartbeat(hb, o) : Promise.resolve(this.noLeader());
  }

  allocId(o?: RequestOptions): Promise<Result<number>> {
    const l = this.leader();
    return l ? l.pdAllocId(o) : Promise.resolve(this.noLeader());
  }

  getTimestamps(count: number, o?: RequestOptions): Promise<Result<{ first: bigint; count: number }>> {
    const l = this.leader();
    return l ? l.pdGetTimestamps(count, o) : Promise.resolve(this.noLeader());
  }

  async getGcSafePoint(): Promise<Result<bigint>> {
    const l = this.leader();
    const sm = l?.pdState();
    return sm ? { ok: true, value: sm.gcSafePoint } : this.noLeader();
  }

  async getRegionById(regionId: number): Promise<Result<{ region: Region; leader?: Peer } | undefined>> {
    const l = this.leader();
    if (!l) return this.noLeader();
    const info = l.pdState()?.getReplicatedRegionById(regionId);
    return { ok: true, value: info ? { region: info.region, leader: info.leader } : undefined };
  }

  detectDeadlock(q: TxnDetectDeadlockRequest, o?: RequestOptions): Promise<Result<TxnAnswer<void>>> {
    const l = this.leader();
    return l?.handle ? l.handle(q, o) : Promise.resolve(this.noLeader());
  }

  async registerGcService(serviceId: string, minStartTs: bigint, ttlMs: number): Promise<Result<GcRegisterResult>> {
    const l = this.leader();
    return l?.pdRegisterGcService ? l.pdRegisterGcService(serviceId, minStartTs, ttlMs) : this.noLeader();
  }

  putStore(storeId: number, address: string, labels: Record<string, string>, o?: RequestOptions, publicKey?: Uint8Array): Promise<Result<PdApplyResult>> {
    const l = this.leader();
    return l ? l.pdPropose({ kind: 'putStore', storeId, address, labels, nowMs: this.now(), ...(publicKey ? { publicKey } : {}) }, o) : Promise.resolve(this.noLeader());
  }
}
