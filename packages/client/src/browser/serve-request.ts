/**
 * Serving one `TabRequest` on a host: the part both runtimes share (`NetHost`, `EmbeddedCluster`)
 * and the simulator's tabs drive (`packages/sim` `cluster/tabs.ts`). `serveTab` routes a
 * checked request to its table: `serveClient` runs a client request (table `kv`) through a `PeerKV` client, one handler per
 * type (`CLIENT_HANDLERS`; a stamped write through the `TabWriter`, so it applies at most once
 * across hosts); `serveWatch` runs the watch requests of table `tab` (`WATCH_HANDLERS`; the
 * runtime answers `status` itself, and its hooks). `RequestLedger` checks what a tab sent
 * (`checkTabRequest`), turns a handler into a never-throwing `Reply`, refuses hooks unless
 * enabled, and counts what it served.
 */
import type { PeerKV } from '../client.ts';
import type { KvPair } from '../services.ts';
import type { Snapshot } from '../txn/transaction.ts';
import { LOCK_TTL_MS_DEFAULT } from '../txn/committer.ts';
import { REAL_CLOCK, type Clock } from '../backoff.ts';
import { compareKeys } from '@peerkv/pd';
import { BrowserKvError, CHANGE_TYPES, SCAN_ARRAY_PAIRS_MAX, isWrite, readFieldsOf, toWireError, type ClientRequest, type ClientRequestOf, type ClientRequestType, type ClientResponseOf, type HookRequest, type TabOnlyRequest, type TabOnlyResponseOf, type TabRequest, type Reply } from './protocol.ts';
import { checkTabRequest } from './request-check.ts';
import type { TabWriter } from './tab-writes.ts';
import { writeOps } from './write-ops.ts';
import { hostWatchesOf, type HostWatches } from './host-watches.ts';

/**
 * Deliberate bugs of the serving path, for the simulator's mutation tests (`packages/sim`
 * `cluster-mutations.test.ts`), which show the simulated tabs' checks catch each. Never set
 * outside them.
 */
export interface TabServeTestMutations {
  /**
   * A stamped single-key write is served as an unstamped one (its stamp dropped on the way to
   * the client), so a resend of it through another host applies it a second time.
   */
  stampDropped?: boolean;
  /**
   * A stamped write over several keys (batch put, batch delete, range delete) is served
   * unstamped, through the client's own multi-key write instead of the `TabWriter`, so a
   * resend of it through another host applies it a second time.
   */
  batchStampDropped?: boolean;
}

/** What a runtime gives `serveTab`: its client, its status, its trace and its hooks. */
export interface TabServing {
  /**
   * Runs `serve` with the host's client and its writer of stamped writes (throws `Unavailable`
   * while the runtime has none; may turn a failure into a more telling one, as `NoQuorum`).
   */
  withClient(serve: (kv: PeerKV, writer: TabWriter) => Promise<unknown>): Promise<unknown>;
  /** The cluster as the host sees it (table `tab`, `status`). */
  status(): Promise<unknown> | unknown;
  /** Turns the host's latency trace on (afresh) or off, answering what it recorded (table `tab`, `trace`; `host-trace.ts`). */
  trace(on: boolean): Promise<unknown> | unknown;
  /** Runs a test hook (the ledger has refused it already unless hooks are on). */
  hook(req: HookRequest): Promise<unknown>;
  /** Deliberate serving bugs (simulator mutation tests only). */
  readonly unsafeTestMutations?: TabServeTestMutations;
  /**
   * The host client's clock, on which a tab's commit began `beganAgoMs` ago (its lock TTL counts
   * from then): `REAL_CLOCK` by default, the simulator's virtual one in the simulator.
   */
  readonly clock?: Clock;
  /** The change feeds the host runs for its tabs on client `kv` (default `hostWatchesOf`; the simulator's run on its virtual clock). */
  readonly watches?: (kv: PeerKV) => HostWatches;
}

/** Serves a checked `TabRequest` on `host`: each table to its handlers. */
export async function serveTab(host: TabServing, req: TabRequest): Promise<unknown> {
  if (req.kind === 'hook') return host.hook(req.request);
  if (req.kind === 'kv') return host.withClient((kv, writer) => serveClient(kv, writer, req.request, host.unsafeTestMutations, host.clock));
  const q = req.request;
  if (q.type === 'status') return host.status();
  if (q.type === 'trace') return host.trace(q.on);
  return host.withClient((kv) => serveWatch((host.watches ?? hostWatchesOf)(kv), q));
}

/** Serves a client request with `kv` (and `writer` for stamped writes; `clock` is `kv`'s, see `TabServing.clock`). */
export async function serveClient(kv: PeerKV, writer: TabWriter, req: ClientRequest, mutations: TabServeTestMutations = {}, clock: Clock = REAL_CLOCK): Promise<unknown> {
  const singleKey = req.type === 'put' || req.type === 'delete';
  if (isWrite(req) && req.stamp && !(singleKey ? mutations.stampDropped : mutations.batchStampDropped)) {
    const { stamp } = req;
    if (typeof stamp.clientId !== 'string' || stamp.clientId === '' || !Number.isSafeInteger(stamp.seq) || stamp.seq < 1) {
      throw new BrowserKvError('InvalidArgument', 'a write stamp needs a clientId and a seq ≥ 1');
    }
    if (stamp.ackFloor !== undefined && (!Number.isSafeInteger(stamp.ackFloor) || stamp.ackFloor < 0 || stamp.ackFloor > stamp.seq)) {
      throw new BrowserKvError('InvalidArgument', 'a write stamp\'s ackFloor is an integer in [0, seq]');
    }
    // One key, one region: the client's routing (region cache, leader hints, other replicas
    // on a timeout) carries the stamp. A write over several keys may span regions and is split
    // and regrouped by the `TabWriter`, one stamped write per region.
    if (req.type === 'put') return kv.put(req.key, req.value, { stamp });
    if (req.type === 'delete') return kv.delete(req.key, { stamp });
    const ops = writeOps(req);
    if (ops.length > 0) await writer.write(stamp, ops);
    return undefined;
  }
  const handler = CLIENT_HANDLERS[req.type] as (kv: PeerKV, req: ClientRequest, clock: Clock) => Promise<unknown>;
  return handler(kv, req, clock);
}

/** The handler of client requests of type `T` (`clock`: the host client's, for a commit's start). */
type ClientHandler<T extends ClientRequestType> = (kv: PeerKV, req: ClientRequestOf<T>, clock: Clock) => Promise<ClientResponseOf<T>>;

/** Each client request type's handler (unstamped; stamped writes go through the `TabWriter` above). */
const CLIENT_HANDLERS: { readonly [T in ClientRequestType]: ClientHandler<T> } = {
  get: (kv, req) => kv.get(req.key, readFieldsOf(req)),
  batchGet: (kv, req) => kv.batchGet(req.keys, readFieldsOf(req)),
  put: (kv, req) => kv.put(req.key, req.value),
  delete: (kv, req) => kv.delete(req.key),
  batchPut: (kv, req) => kv.batchPut(req.pairs),
  batchDelete: (kv, req) => Promise.all(req.keys.map((k) => kv.delete(k))).then(() => undefined),
  deleteRange: (kv, req) => kv.deleteRange(req.start, req.end),
  scan: (kv, req) => scanArray(kv, req),
  getTimestamp: (kv) => kv.getTimestamp(),
  snapshotGet: async (kv, req) => (await snapshotAt(kv, req.ts)).get(req.key),
  snapshotScan: async (kv, req) => {
    const limit = Math.min(req.limit ?? SCAN_ARRAY_PAIRS_MAX, SCAN_ARRAY_PAIRS_MAX);
    const out: KvPair[] = [];
    for await (const p of (await snapshotAt(kv, req.ts)).scan({ start: req.start, end: req.end, limit })) out.push(p);
    return out;
  },
  staleScan: async (kv, req) => {
    const limit = Math.min(req.limit ?? SCAN_ARRAY_PAIRS_MAX, SCAN_ARRAY_PAIRS_MAX);
    const snap = await kv.staleSnapshot(req.readTs !== undefined ? { readTs: req.readTs } : { maxStaleness: req.maxStaleness ?? Infinity });
    const pairs: KvPair[] = [];
    for await (const p of snap.scan({ ...(req.start ? { start: req.start } : {}), ...(req.end ? { end: req.end } : {}), limit })) pairs.push(p);
    return { ts: snap.ts, pairs };
  },
  staleBatchGet: async (kv, req) => {
    const snap = await kv.staleSnapshot(req.readTs !== undefined ? { readTs: req.readTs } : { maxStaleness: req.maxStaleness });
    const values = await snap.batchGet(req.keys);
    return { ts: snap.ts, values };
  },
  commitTxn: (kv, req, clock) =>
    kv.commitMutations(req.startTs, req.mutations, {
      ...(req.lockTtlMs !== undefined ? { lockTtlMs: req.lockTtlMs } : {}),
      ...(req.onePc !== undefined ? { onePc: req.onePc } : {}),
      ...(req.asyncCommit !== undefined ? { asyncCommit: req.asyncCommit } : {}),
      ...(req.beganAgoMs !== undefined ? { beganAtMs: clock.now() - req.beganAgoMs } : {}),
      ...(req.forUpdateTs !== undefined ? { forUpdateTs: req.forUpdateTs } : {}),
    }),
  commitQueuedTxn: (kv, req, clock) => {
    const mutations = [...req.mutations].sort((a, b) => compareKeys(a.key, b.key));
    for (let i = 1; i < mutations.length; i++) if (compareKeys(mutations[i - 1].key, mutations[i].key) === 0) throw new BrowserKvError('InvalidArgument', 'a key appears twice in one commit');
    if (mutations.length === 0) throw new BrowserKvError('InvalidArgument', 'a queued commit carries at least one mutation');
    if (req.readTs > req.startTs) throw new BrowserKvError('InvalidArgument', 'readTs is above startTs');
    return kv.commitQueuedTxn({ startTs: req.startTs, mutations, readTs: req.readTs, ranges: req.ranges, lockTtlMs: req.lockTtlMs ?? LOCK_TTL_MS_DEFAULT, beganAtMs: clock.now() - (req.beganAgoMs ?? 0) });
  },
  decideTxnAttempt: (kv, req) => kv.decideTxnAttempt({ startTs: req.startTs, primary: req.primary }),
  // A pessimistic transaction of another tab: its lock requests, routed by this host's client.
  txnRegionRequest: (kv, req) => kv.txnRegionRequest(req.locate, req.keys, req.request),
  txnRoute: (kv, req) => kv.txnRoute(req.key),
};

/** The watch requests of table `tab` (a change feed the host runs for a tab). */
export type WatchRequest = Exclude<TabOnlyRequest, { type: 'status' | 'trace' }>;

/** Serves a watch request with a host client's change feeds (`host-watches.ts`). */
export function serveWatch(watches: HostWatches, req: WatchRequest): Promise<unknown> {
  const handler = WATCH_HANDLERS[req.type] as (watches: HostWatches, req: WatchRequest) => Promise<unknown>;
  return handler(watches, req);
}

/** Each watch request type's handler. */
const WATCH_HANDLERS: { readonly [T in WatchRequest['type']]: (watches: HostWatches, req: Extract<WatchRequest, { type: T }>) => Promise<TabOnlyResponseOf<T>> } = {
  watchOpen: (watches, req) => watches.open({ start: req.start, ...(req.end ? { end: req.end } : {}) }, req.fromTs, req.bufferEventsMax),
  watchNext: (watches, req) => watches.next(req.watchId, req.eventsMax, req.waitMs),
  watchClose: async (watches, req) => watches.close(req.watchId),
};

/** Snapshots a host keeps per client (one per running tab transaction, FIFO). */
export const HOST_SNAPSHOTS_MAX = 64;
const SNAPSHOTS = new WeakMap<PeerKV, Map<bigint, Promise<Snapshot>>>();

/** The host's snapshot at `ts` (its GC safe point check made once per ts). */
function snapshotAt(kv: PeerKV, ts: bigint): Promise<Snapshot> {
  let m = SNAPSHOTS.get(kv);
  if (m === undefined) SNAPSHOTS.set(kv, (m = new Map()));
  let s = m.get(ts);
  if (s === undefined) {
    if (m.size >= HOST_SNAPSHOTS_MAX) m.delete(m.keys().next().value!);
    s = kv.snapshot(ts);
    s.catch(() => m.delete(ts));
    m.set(ts, s);
  }
  return s;
}

async function scanArray(kv: PeerKV, req: ClientRequestOf<'scan'>): Promise<KvPair[]> {
  const limit = Math.min(req.limit ?? SCAN_ARRAY_PAIRS_MAX, SCAN_ARRAY_PAIRS_MAX);
  const out: KvPair[] = [];
  for await (const p of kv.scan({ start: req.start, end: req.end, limit, reverse: req.reverse, ...readFieldsOf(req) })) out.push(p);
  return out;
}

/** Replies and counters of one host; see the module header. */
export class RequestLedger {
  readonly requests = { reads: 0, writes: 0, failed: 0 };

  constructor(private readonly testHooks: boolean) {}

  /**
   * Runs `handle(req)` as a `Reply`: a request that is not a `TabRequest` is refused
   * `InvalidArgument`, a hook `HooksDisabled` unless hooks are on.
   */
  async reply(unchecked: TabRequest, handle: (req: TabRequest) => Promise<unknown>): Promise<Reply> {
    try {
      // From another tab: anything may arrive.
      const req = checkTabRequest(unchecked);
      if (req.kind === 'hook' && !this.testHooks) throw new BrowserKvError('HooksDisabled', `${req.request.type} needs testHooks: true`);
      const value = await handle(req);
      if (req.kind === 'kv' && CHANGE_TYPES.has(req.request.type)) this.requests.writes++;
      // The watches count as reads; status, trace and hooks are not counted.
      else if (req.kind === 'kv' || (req.kind === 'tab' && req.request.type !== 'status' && req.request.type !== 'trace')) this.requests.reads++;
      return { ok: true, value };
    } catch (e) {
      this.requests.failed++;
      return { ok: false, error: toWireError(e) };
    }
  }
}
