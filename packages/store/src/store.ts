/**
 * `Store`: the node. It hosts many region peers (multi-Raft) over one `KvEngine` and runs
 * the batch loop: each round collects the Ready of every active peer, persists all of them
 * and their applied state in ONE engine write (group commit), sends messages (votes and acks
 * only after the write), resolves requests and advances. One tick timer drives every peer;
 * idle peers hibernate.
 *
 * This class is the facade: the work is split by job, like TiKV's raftstore, into parts that
 * share one `StoreContext`:
 * - `identity.ts`: the engine's owner, the boot counter, loading regions at open;
 * - `store-loop.ts`: ticks and hibernation, incoming messages, peer creation, replacement and destroy;
 * - `round.ts`: the batch round (group commit), split staging, log compaction;
 * - `snapshot-worker.ts`: snapshot generate/install, overlap checks, range deletes;
 * - `pd-worker.ts`: heartbeats to PD, stale peers, operator steps;
 * - `pd-service.ts`: hosting PD's replica (propose, ids, TSO, scheduler, bootstrap);
 * - `handlers/`: one handler per request type (`handle`), over `requests.ts`' machinery;
 * - `inspect.ts`: status and consistency digests.
 */
import type { LeaderObserver } from './leader-news.ts';
import { ResolvedTsWorker } from './txn/resolved-ts.ts';
import type { GcRegisterResult, OperatorStep, PdApplyResult, PdCommand, PdStateMachine, Region, RegionHeartbeat, StoreStats } from '@peerkv/pd';
import type { KvEngine } from '@peerkv/storage';
import { WriteBatch } from '@peerkv/storage';
import { monotonicClock } from '@peerkv/transport';
import type { RegionMessage } from '@peerkv/transport';
import type { ApplyObserver } from './apply.ts';
import { StoreContext } from './context.ts';
import { STORE_HANDLERS, type Handler, type HandlerEnv } from './handlers/index.ts';
import { DATA_MODEL_DEFAULT, dataColumnFamiliesOf, dataModelProblem } from './data-model.ts';
import { bumpBoot, checkDataModel, createRegion, loadRegions, readIdentity } from './identity.ts';
import { DataKeySwitcher, loadDataKeySwitches, retirableDataKeyFloor, retireDataKeys } from './data-key-switch.ts';
import type { EntryKeyring } from './sealing.ts';
import { regionDigests, storeStatus } from './inspect.ts';
import { META_CF, STORE_IDENT_KEY, dataColumnFamiliesProblem, storeColumnFamilies } from './keys.ts';
import { StoreClosedError, StoreConfigError, StoreIdentityError, type OpenTrace, type RegionDigest, type StoreIdentity, type StoreOptions, type StoreStatus } from './options.ts';
import type { PdClient, RegionHeartbeatResponse } from './pd-client.ts';
import { PdService } from './pd-service.ts';
import { PdWorker } from './pd-worker.ts';
import { ok, rolesOf, type Result } from './peer.ts';
import { StoreApi } from './request-api.ts';
import type { RequestOptions } from './request-options.ts';
import type { HandleOptions, ResponseOf, StoreRequest, StoreRequestType } from './request-types.ts';
import { checkStoreRequest } from './rpc/request-codec.ts';
import { StoreRequests } from './requests.ts';
import { BatchRound } from './round.ts';
import { SnapshotWorker } from './snapshot-worker.ts';
import { GcWorker, type GcRoundResult, type GcWorkerStats } from './gc-worker.ts';
import { StoreLoop } from './store-loop.ts';
import type { DataKeyGate } from './rpc/data-key-proof.ts';

export * from './options.ts';
export type * from './request-options.ts';
export type * from './mutations.ts';
export * from './request-types.ts';
export { FieldCheck, fieldsOf } from './request-check.ts';
export { StoreApi } from './request-api.ts';
export { GC_LOCK_SERVICE_PREFIX, GC_PAGES_PER_REQUEST, GC_PAGES_PER_ROUND_MAX, GC_WORKER_INTERVAL_MS, type GcRoundResult, type GcWorkerStats } from './gc-worker.ts';
export type { GcLockResolver, LockMet } from './options.ts';
export { STORE_HANDLERS, CDC_PAGE_BYTES_MAX, CDC_PAGE_EVENTS_MAX, CDC_WAIT_MS_MAX, READ_ONE_PAGE_PAIRS_MAX, SNAPSHOT_BUSY_BACKOFF_MS, type Handler, type HandlerEnv, type HandlerTable } from './handlers/index.ts';

const encoder = new TextEncoder();

export class Store extends StoreApi {
  readonly storeId: number;
  readonly clusterId: string;
  private readonly ctx: StoreContext;
  private readonly loop: StoreLoop;
  private readonly requests: StoreRequests;
  private readonly pd: PdService;
  private readonly pdWorker: PdWorker;
  /** Advances the resolved ts of the mvcc regions this store leads. */
  readonly resolvedTs: ResolvedTsWorker;
  /** Proposes data-key switches in the regions this store leads (data-key-switch.ts). */
  private readonly dataKeySwitcher: DataKeySwitcher;
  private readonly env: HandlerEnv;
  private readonly gc: GcWorker;
  private readonly snapshots: SnapshotWorker;
  /** How the open went (`openTrace`). */
  private opened: OpenTrace = { identityMs: 0, bootMs: 0, regionsMs: 0, resumeMs: 0, totalMs: 0, regions: 0, elected: 0 };
  /** Who proved the data key on their link (`StoreOptions.dataProofKey`); `bindStore` serves data only to them. */
  readonly dataKeyGate: DataKeyGate | undefined;

  private constructor(o: StoreOptions) {
    super();
    this.storeId = o.storeId;
    this.clusterId = o.clusterId;
    const ctx = new StoreContext(o);
    this.dataKeyGate = ctx.dataKeyGate;
    this.ctx = ctx;
    this.requests = new StoreRequests(ctx);
    this.pd = new PdService(ctx, this.requests);
    this.pdWorker = new PdWorker(ctx, this.requests, this.pd);
    this.dataKeySwitcher = new DataKeySwitcher(ctx);
    this.env = { ctx, requests: this.requests, pd: this.pd, gcSafePoint: () => this.gc.safePoint, dataKeySwitcher: this.dataKeySwitcher };
    this.gc = new GcWorker(ctx, this.pd, (q) => this.handle(q), o.gcIntervalMs, o.gcLockResolver);
    const snapshots = new SnapshotWorker(ctx);
    this.snapshots = snapshots;
    this.resolvedTs = new ResolvedTsWorker(ctx, (locks, ts) => this.gc.resolveLocksMet(locks, ts));
    this.loop = new StoreLoop(ctx, snapshots, this.pdWorker, this.resolvedTs, this.dataKeySwitcher);
    const round = new BatchRound(ctx, this.loop, snapshots, this.pdWorker);
    ctx.bindRound(() => round.round());
  }

  /** The identity recorded in an engine by the store that used it, if any. */
  static readIdentity(engine: KvEngine): Promise<StoreIdentity | undefined> {
    return readIdentity(engine);
  }

  /**
   * Opens a store: checks the engine belongs to this store (an engine keeps the identity of
   * the store that first used it; a wiped engine has none and must join as a new store),
   * loads every region this store hosts, resumes snapshot applies a stop interrupted and starts ticking.
   */
  static async open(o: StoreOptions): Promise<Store> {
    const dataModel = o.dataModel ?? DATA_MODEL_DEFAULT;
    const dataCfs = dataColumnFamiliesOf(dataModel, o.dataColumnFamilies);
    const problem = dataColumnFamiliesProblem(dataCfs) ?? dataModelProblem(dataModel, dataCfs);
    if (problem) throw new StoreConfigError(problem);
    if (o.gcIntervalMs !== undefined && !(Number.isSafeInteger(o.gcIntervalMs) && o.gcIntervalMs > 0)) throw new StoreConfigError(`gcIntervalMs must be a positive integer (ms), not ${String(o.gcIntervalMs)}`);
    const missing = storeColumnFamilies(dataCfs).filter((cf) => !o.engine.columnFamilies.includes(cf));
    if (missing.length > 0) throw new StoreConfigError(`the engine was opened without column famil${missing.length === 1 ? 'y' : 'ies'} ${missing.map((c) => `'${c}'`).join(', ')}`);
    const clock = o.traceClock ?? monotonicClock;
    const t0 = clock.now();
    const ident = await Store.readIdentity(o.engine);
    if (ident && (ident.storeId !== o.storeId || ident.clusterId !== o.clusterId)) {
      throw new StoreIdentityError(`engine belongs to store ${ident.storeId} of cluster '${ident.clusterId}', not store ${o.storeId} of '${o.clusterId}'`);
    }
    const b = new WriteBatch();
    // An engine a store used before without a data model record holds raw v1 data.
    await checkDataModel(o.engine, dataModel, ident !== undefined, b);
    if (!ident) b.put(META_CF, STORE_IDENT_KEY, encoder.encode(JSON.stringify({ storeId: o.storeId, clusterId: o.clusterId })));
    if (!b.isEmpty) await o.engine.write(b, { durability: 'strict' });
    const s = new Store(o);
    const t1 = clock.now();
    await bumpBoot(s.ctx);
    const t2 = clock.now();
    await loadRegions(s.ctx);
    await loadDataKeySwitches(s.ctx);
    const t3 = clock.now();
    await s.snapshots.resumeApplies();
    // A lone store's regions need nobody else's vote: they lead before the first request comes.
    const elected = s.requests.campaignSoleVoters().length;
    s.loop.startTicking();
    // A store that serves transactions collects their old versions (`gc-worker.ts`).
    if (s.ctx.dataModel === 'mvcc') s.gc.start();
    const t4 = clock.now();
    s.opened = { identityMs: t1 - t0, bootMs: t2 - t1, regionsMs: t3 - t2, resumeMs: t4 - t3, totalMs: t4 - t0, regions: s.ctx.peers.size, elected };
    return s;
  }

  // ------------------------------------------------------------------ lifecycle

  /** The store is going away (a closing tab): PD moves its leaders elsewhere. */
  get draining(): boolean {
    return this.ctx.draining;
  }

  set draining(v: boolean) {
    this.ctx.draining = v;
  }

  /**
   * Creates a region on this store from scratch (cluster bootstrap): its log starts at
   * `RAFT_INIT_INDEX` with the region's voters. Every store listed in `region.peers` calls
   * this with the same region.
   */
  createRegion(region: Region): Promise<void> {
    return createRegion(this.ctx, region);
  }

  /** Stops ticking, fails waiting requests and closes nothing else (the engine is the caller's). */
  async close(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.closed) return;
    ctx.closed = true;
    this.gc.stop();
    ctx.timers.clearTimeout(ctx.tickHandle);
    while (ctx.roundRunning) await new Promise((r) => ctx.timers.setTimeout(() => r(undefined), 1));
    // Snapshot applies stop after their current write (a reopened store resumes them).
    for (const p of ctx.peers.values()) await p.applying?.task;
    for (const p of ctx.peers.values()) p.failPending({ kind: 'RegionNotFound', regionId: p.regionId });
  }

  // ------------------------------------------------------------------ the store loop

  /** One store tick: ticks every awake peer, hibernates idle caught-up ones. */
  tick(): void {
    this.loop.tick();
  }

  /** The transport lost a store: wake every region so elections can replace its leaders. */
  onStoreDown(storeId: number): void {
    this.loop.onStoreDown(storeId);
  }

  /** Raft messages from another store (the transport calls this). */
  receive(fromStoreId: number, messages: RegionMessage[]): void {
    this.loop.receive(fromStoreId, messages);
  }

  /** Counts a message or request refused outside the store itself (its RPC server, its transport binding) in `status().refused`. */
  countRefused(reason: string): void {
    this.ctx.countRefused(reason);
  }

  /** Runs a round soon (coalescing calls). */
  schedule(): void {
    this.ctx.schedule();
  }

  // ------------------------------------------------------------------ operators

  /** Runs one operator step PD asked for on a region this store leads. */
  executeStep(regionId: number, step: OperatorStep, pd: PdClient): Promise<Result<void>> {
    return this.pdWorker.executeStep(regionId, step, pd);
  }

  // ------------------------------------------------------------------ requests

  /**
   * Runs one request (`request-types.ts`): checks its fields, then its type's handler
   * (`handlers/`). Rejects with `StoreRequestError` for an unknown type or a bad field and
   * `StoreClosedError` once the store is closed; every other failure is a region error in
   * the answer.
   */
  override async handle<Q extends StoreRequest>(request: Q, o: HandleOptions = {}): Promise<ResponseOf<Q['type']>> {
    const q = checkStoreRequest(request);
    const handler = STORE_HANDLERS[q.type] as Handler<StoreRequestType>;
    try {
      return (await handler(this.env, q, o)) as ResponseOf<Q['type']>;
    } catch (e) {
      // A request in flight when the store closed (its engine closed under a read): the
      // store is gone for it, which callers handle as they do a store that never answered.
      if ((this.ctx.closed || this.ctx.fatal) && !(e instanceof StoreClosedError)) throw new StoreClosedError(`store ${this.ctx.storeId} closed while running ${q.type}: ${String(e)}`, { cause: e });
      throw e;
    }
  }

  // write, get, scan, changePeers and split: one-line wrappers over `handle` (`StoreApi`).

  /** `handle({ type: 'transferLeader', ... })`, not awaited: the store acts on it before this returns. */
  transferLeader(regionId: number, peerId: number): void {
    void this.handle({ type: 'transferLeader', regionId, peerId }).catch(ignore);
  }

  /**
   * The store is going away (a closing tab, a shutting-down server): report draining to PD
   * (its drain-leader scheduler keeps leaders off this store) and hand every leadership
   * held here to the most caught-up other voter now. Returns the regions asked to move.
   */
  drain(): number[] {
    return this.requests.drain();
  }

  /** `handle({ type: 'campaign', ... })`, not awaited: the election starts before this returns. */
  campaign(regionId: number): void {
    void this.handle({ type: 'campaign', regionId }).catch(ignore);
  }

  /** The region this store hosts that contains `key`, if any (for routing in tests and demos). */
  regionForKey(key: Uint8Array): Region | undefined {
    return this.requests.regionForKey(key);
  }

  /** Region ids hosted here. */
  regionIds(): number[] {
    return this.requests.regionIds();
  }

  // ------------------------------------------------------------------ placement driver

  /**
   * PD leader: applies a region heartbeat through PD's Raft group and answers with the next
   * operator step for that region, if the scheduler has one.
   */
  pdHandleRegionHeartbeat(hb: RegionHeartbeat, o: RequestOptions = {}): Promise<Result<RegionHeartbeatResponse>> {
    return this.pd.pdHandleRegionHeartbeat(hb, o);
  }

  /** PD leader: records a store heartbeat (`PdService.pdHandleStoreHeartbeat`). */
  pdHandleStoreHeartbeat(stats: StoreStats, nowMs: number, o: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    return this.pd.pdHandleStoreHeartbeat(stats, nowMs, o);
  }

  /** Running operators on the PD leader (for status and dashboards). */
  pdOperators(): { regionId: number; kind: string; desc: string }[] {
    return this.pd.pdOperators();
  }

  /**
   * The PD state machine of this store's replica (routing reads; may lag the leader). Undefined
   * while a restarted replica replays its log up to the commit index it had persisted: its
   * state then is an old snapshot (a routing read could miss regions that exist).
   */
  pdState(): PdStateMachine | undefined {
    return this.pd.pdState();
  }

  /** Whether this store's PD replica leads and serves. */
  pdIsLeader(): boolean {
    return this.pd.pdIsLeader();
  }

  /** The store hosting the PD leader, as this store's PD replica last heard. */
  pdLeaderStoreId(): number | undefined {
    return this.pd.pdLeaderStoreId();
  }

  /** Proposes a PD command through PD's Raft group (this replica must lead). */
  pdPropose(cmd: PdCommand, o: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    return this.pd.pdPropose(cmd, o);
  }

  /** One unique id (store, region or peer), from the PD leader's granted batches. */
  pdAllocId(o: RequestOptions = {}): Promise<Result<number>> {
    return this.pd.pdAllocId(o);
  }

  /** `count` consecutive TSO timestamps (the first is returned). */
  pdGetTimestamps(count: number, o: RequestOptions = {}): Promise<Result<{ first: bigint; count: number }>> {
    return this.pd.pdGetTimestamps(count, o);
  }

  /** Runs one GC round now (`gc-worker.ts`; the store also runs one every `GC_WORKER_INTERVAL_MS` when it serves transactions). */
  gcRound(): Promise<GcRoundResult> {
    return this.gc.round();
  }

  /** The GC safe point this store knows (txn reads below it are refused), its counters, and a region's collected-up-to point. */
  gcStatus(regionId?: number): { safePoint: bigint; stats: GcWorkerStats; collectedUpTo?: bigint } {
    return { safePoint: this.gc.safePoint, stats: { ...this.gc.stats }, ...(regionId === undefined ? {} : { collectedUpTo: this.gc.collectedUpTo(regionId) }) };
  }

  /** Registers (refreshes; `ttlMs` 0 removes) a GC service's oldest live start ts on this store's PD leader replica. */
  pdRegisterGcService(serviceId: string, minStartTs: bigint, ttlMs: number): Result<GcRegisterResult> {
    return this.pd.pdRegisterGcService(serviceId, minStartTs, ttlMs);
  }

  /** The oldest live GC registration on this store's PD leader replica, or `hold` (`PdService.pdGcRegistrationsFloor`). */
  pdGcRegistrationsFloor(servicePrefix?: string): bigint | undefined | 'hold' {
    return this.pd.pdGcRegistrationsFloor(servicePrefix);
  }

  /**
   * Creates a new cluster on this (empty) store: PD's group and the first data region, both
   * with one replica here, then records the cluster in PD. A one-store cluster works fully
   * offline; PD grows both groups as stores join.
   */
  bootstrapCluster(o: { clusterNumber: number; address: string; labels?: Record<string, string>; publicKey?: Uint8Array }, ro: RequestOptions = {}): Promise<Result<PdApplyResult>> {
    return this.pd.bootstrapCluster(o, ro);
  }

  // ------------------------------------------------------------------ inspection

  /**
   * Each initialized data region's applied index, epoch and a hash of its data and dedup
   * records, read between two rounds (when memory and disk agree). Replicas of one region at
   * the same applied index and epoch must report the same hash (TiKV's consistency check).
   */
  regionDigests(): Promise<RegionDigest[]> {
    return regionDigests(this.ctx);
  }

  /**
   * Calls `observer` for every command a data region applies on this store from now on, in
   * log order per region, once the write holding it is durable (apply.ts). Returns the
   * function that stops it.
   */
  observeApply(observer: ApplyObserver): () => void {
    this.ctx.applyObservers.push(observer);
    return () => {
      const i = this.ctx.applyObservers.indexOf(observer);
      if (i >= 0) this.ctx.applyObservers.splice(i, 1);
    };
  }

  /** Calls `observer` with each leader change a replica here learns (`leader-news.ts`); returns the unsubscribe. */
  observeLeader(observer: LeaderObserver): () => void {
    this.ctx.leaderObservers.push(observer);
    return () => {
      const i = this.ctx.leaderObservers.indexOf(observer);
      if (i >= 0) this.ctx.leaderObservers.splice(i, 1);
    };
  }

  status(): StoreStatus {
    return storeStatus(this.ctx);
  }

  /** Where this store's open spent its time (issue 16: an existing store opens in ≤ 200 ms). */
  openTrace(): OpenTrace {
    return { ...this.opened };
  }

  /**
   * Rotates the data key to `keyId` (`data-key-switch.ts`): this store seals with it from now on
   * and proposes a switch entry in every region it leads, which moves every replica's store on
   * to it at that index, and those stores switch the regions they lead. Entries under earlier
   * keys stay readable until they retire (`retireDataKeys`). Rejects with
   * `StoreConfigError` on a witness or a store without a data key, and with `RangeError` for an
   * id below the current one or one this store has no key for.
   */
  async rotateDataKey(keyId: number): Promise<void> {
    await this.dataKeySwitcher.rotate(this.dataKeyring(), keyId);
  }

  /**
   * Drops from the keyring every data key id no entry this store can still read needs
   * (`data-key-switch.ts`'s retirement rule), and none at or above `atMost` when given, durably.
   * Answers the lowest key id kept. Rejects with `StoreConfigError` on a store without a data key.
   * A cluster retires a key only once every store's `retirableDataKeyFloor` is above it, with
   * every store up (a log anywhere may still send entries under it): SECURITY.md.
   */
  async retireDataKeys(atMost?: number): Promise<number> {
    return retireDataKeys(this.ctx, this.dataKeyring(), atMost);
  }

  /** The lowest key id this store's retirement rule would keep now (`retireDataKeys` retires below it). */
  retirableDataKeyFloor(): number {
    return retirableDataKeyFloor(this.ctx, this.dataKeyring());
  }

  private dataKeyring(): EntryKeyring {
    const ring = this.ctx.entryCipher;
    if (!ring) throw new StoreConfigError(`store ${this.ctx.storeId} holds no data key (a witness, or a store that does not seal): nothing to rotate`);
    return ring;
  }

  /** The data-key switch region `regionId` applied on this replica (key id 0 at index 0 before any); undefined when not hosted here. */
  dataKeySwitchOf(regionId: number): { keyId: number; index: number } | undefined {
    const p = this.ctx.peers.get(regionId);
    return p && { keyId: p.dataKeyId, index: p.dataKeySwitchIndex };
  }

  /**
   * The rotation on this store: the lowest key id it keeps (undefined without a data key), the
   * switch entries it proposed, and the entries applied after their region's switch under an
   * older key (`ApplyCounters.staleKeyEntries`: 0 unless a leader sealed with a stale key).
   */
  dataKeyStats(): { floorKeyId: number | undefined; switchesProposed: number; staleKeyEntries: number } {
    return { floorKeyId: this.ctx.entryCipher?.floorKeyId(), switchesProposed: this.dataKeySwitcher.switchesProposed, staleKeyEntries: this.ctx.applyCounters.staleKeyEntries };
  }

  /** The data key id this store seals new entries with (undefined without a data key). */
  dataKeyId(): number | undefined {
    return this.ctx.entryCipher?.currentKeyId();
  }

  /** Forgets the writes `status().writeTrace` summarizes, so the next summary covers only writes from now on. */
  clearWriteTrace(): void {
    this.ctx.writeTrace.clear();
  }
}

export { rolesOf, ok };

/** A fire-and-forget wrapper's answer (always ok; a bad id is refused, as it was ignored before). */
function ignore(): void {}
