/**
 * The clients of cluster mode: several `PeerKV` instances, each running a few op loops at
 * once (so one client has several writes in flight), on a small key space that PD splits
 * into several regions. Every op is recorded in the shared `History` with virtual times:
 * - single-key put/delete/get, follower gets (`consistency: 'follower'`, linearizable) and
 *   stale gets (`'stale'`, checked apart by `checkStaleReads`: never for linearizability);
 * - `batchPut` and `deleteRange` over several keys and regions: atomic per region only, so
 *   recorded as one write per key, each with the call's interval;
 * - forward and reverse scans in small pages (some with a `limit`, some as follower reads):
 *   one read per key the scan covered (each key was read at some instant inside the scan);
 * - the calls of simulated browser tabs (`tabs.ts`): stamped puts, deletes, batch puts, batch
 *   deletes and range deletes, gets and scans (forward or reverse, maybe with a limit), each
 *   served by a client as a host tab serves it (the browser runtime's `serveTab`), resent
 *   through another host after a timeout, an error, or the host's death mid-request.
 * Outcomes: a write that throws (`Undetermined`, a spent retry budget, anything) is
 * `unknown` (it may still apply); a read that throws is `fail`.
 */
import { SeededRng } from '@peerkv/raft';
import type { ReadConsistency } from '@peerkv/store';
import { PeerKV, codec, type ClientOptions, type KvPair } from 'peerkv';
import type { ClientRequest } from 'peerkv/browser';
import type { History, OpVia } from '../history.ts';
import { intBetween, pick, shuffled, weightedPick } from '../rng-utils.ts';
import type { ClusterEnv } from './cluster-env.ts';
import { SimStoreResolver } from './client-net.ts';
import { tabCall, type SimTabHost, type Tab } from './tabs.ts';

/** The key of index `i` (fixed width, so byte order is index order). */
export function keyName(i: number): string {
  return `k${String(i).padStart(2, '0')}`;
}

/** Client calls made, by kind (each counted once, however many keys it touched). */
export interface WorkloadStats {
  put: number;
  delete: number;
  batchPut: number;
  deleteRange: number;
  get: number;
  followerGet: number;
  staleGet: number;
  scan: number;
  reverseScan: number;
  /** Scans (either direction) served as follower reads. */
  followerScan: number;
  stampedPut: number;
  /** Tab calls other than stamped puts, by kind. */
  tabDelete: number;
  tabBatchPut: number;
  tabBatchDelete: number;
  tabDeleteRange: number;
  tabGet: number;
  tabBatchGet: number;
  tabScan: number;
  /** Tab gets, batch gets and scans with `consistency: 'follower'`. */
  tabFollowerRead: number;
  /** Tab calls sent again through another host (a tab's host changed, died or failed). */
  tabResends: number;
  /** Sends whose host tab died holding the request (its answer lost). */
  tabHostDeaths: number;
  /** Replica digests compared with an earlier one of the same region, applied index and epoch. */
  digestChecks: number;
}

/** Zeroed stats. */
export function emptyWorkloadStats(): WorkloadStats {
  return { put: 0, delete: 0, batchPut: 0, deleteRange: 0, get: 0, followerGet: 0, staleGet: 0, scan: 0, reverseScan: 0, followerScan: 0, stampedPut: 0, tabDelete: 0, tabBatchPut: 0, tabBatchDelete: 0, tabDeleteRange: 0, tabGet: 0, tabBatchGet: 0, tabScan: 0, tabFollowerRead: 0, tabResends: 0, tabHostDeaths: 0, digestChecks: 0 };
}

/** Pairs per scan request of client `i` (small, so scans page within a region). */
export function scanPagePairsOf(i: number): number {
  return 1 + (i % 3);
}

/**
 * The options every simulated client shares: the env's PD and virtual clock, its own lossy link
 * (seeded by `i` and `salt`), id `sim-<seed>-<tag><i>`, the run's timeouts and backoff.
 */
export function simClientOptions(env: ClusterEnv, i: number, salt: number, tag: string): ClientOptions {
  return {
    pd: env.pd,
    stores: new SimStoreResolver(env, new SeededRng((env.o.seed * 1_000_003 + i * 7_919 + salt) >>> 0)),
    clientId: `sim-${env.o.seed}-${tag}${i}`,
    clock: env.sched,
    random: env.sched.random,
    requestTimeoutMs: env.o.requestTimeoutMs,
    backoff: { attemptsMax: 40, baseMs: 5, capMs: 400, budgetMs: env.o.clientBudgetMs },
    dataModel: env.o.dataModel,
  };
}

/** Creates client `i` of a run, next to store `localStoreId` (where its follower and stale reads go). */
export function makeClient(env: ClusterEnv, i: number, consistency: ReadConsistency, localStoreId?: number): PeerKV {
  return new PeerKV({
    ...simClientOptions(env, i, 17, 'c'),
    consistency,
    scanPagePairs: scanPagePairsOf(i),
    ...(localStoreId !== undefined ? { localStoreId } : {}),
  });
}

/** Relative weights of the op kinds. */
export const OP_WEIGHTS = {
  put: 20,
  delete: 5,
  get: 16,
  followerGet: 8,
  staleGet: 5,
  batchPut: 9,
  deleteRange: 4,
  scan: 9,
  reverseScan: 8,
  stampedPut: 8,
  tabDelete: 2,
  tabBatchPut: 3,
  tabBatchDelete: 1,
  tabDeleteRange: 1,
  tabGet: 3,
  tabBatchGet: 1,
  tabScan: 3,
} as const;

/** What every op loop shares. */
export interface Workload {
  env: ClusterEnv;
  history: History;
  clients: PeerKV[];
  tabs: Tab[];
  /** The host tabs the tabs' writes go through, one per client (`tabs.ts`). */
  tabHosts: SimTabHost[];
  stats: WorkloadStats;
  /** `consistency` of plain gets and scans (`stale` under the harness mutation `staleReads`). */
  readConsistency: ReadConsistency;
}

/** One op loop's own state: its client, its seeded choices, its value counter. */
interface Lane {
  w: Workload;
  clientId: number;
  kv: PeerKV;
  rng: SeededRng;
  counter: { n: number };
}

const now = (w: Workload): number => w.env.rel();

/** A value no other write of the run uses (values are unique per client, so per key). */
function nextValue(l: Lane): string {
  return `c${l.clientId}-${l.counter.n++}`;
}

/** A write call recorded as one write per key (same interval); the call's outcome applies to all. True if acknowledged. */
async function recordWrites(l: Lane, writes: { kind: 'put' | 'delete'; key: string; value?: string }[], via: OpVia | undefined, run: (firstId: number) => Promise<unknown>): Promise<boolean> {
  const h = l.w.history;
  const ids = writes.map((x) => h.invoke({ clientId: l.clientId, kind: x.kind, key: x.key, ...(x.value !== undefined ? { value: x.value } : {}), ...(via ? { via } : {}) }, now(l.w)));
  h.group(ids);
  try {
    await run(ids[0]);
    for (const id of ids) h.ok(id, now(l.w));
    return true;
  } catch {
    // Undetermined, RetryBudgetExhausted, anything: the write may still apply.
    for (const id of ids) h.unknown(id, now(l.w));
    return false;
  }
}

/** A read call recorded as one read per key; `read` returns each key's value (null: absent), or undefined for keys it did not cover. */
async function recordReads(l: Lane, keys: string[], via: OpVia | undefined, read: (firstId: number) => Promise<Map<string, string | null | undefined>>): Promise<number[]> {
  const h = l.w.history;
  const ids = keys.map((key) => h.invoke({ clientId: l.clientId, kind: 'get', key, ...(via ? { via } : {}) }, now(l.w)));
  h.group(ids);
  try {
    const seen = await read(ids[0]);
    keys.forEach((key, j) => {
      const v = seen.get(key);
      // A key the call did not reach (beyond a scan's limit) observed nothing.
      if (v === undefined) h.fail(ids[j], now(l.w));
      else h.ok(ids[j], now(l.w), v);
    });
  } catch {
    for (const id of ids) h.fail(id, now(l.w));
  }
  return ids;
}

/** `count` distinct keys, in key order. */
function someKeys(l: Lane, count: number): string[] {
  const idx = shuffled(l.rng, Array.from({ length: l.w.env.o.keys }, (_, i) => i)).slice(0, count);
  return idx.sort((a, b) => a - b).map(keyName);
}

/** A key for a single-key op: one of the hot keys with `hotKeyShare`, else any. */
function someKey(l: Lane): string {
  const o = l.w.env.o;
  if (o.hotKeys > 0 && l.rng.nextFloat() < o.hotKeyShare) return keyName(l.rng.nextInt(Math.min(o.hotKeys, o.keys)));
  return keyName(l.rng.nextInt(o.keys));
}

/** A key range [a, b) of 1..maxKeys keys, as indexes. */
function someRange(l: Lane, maxKeys: number): [number, number] {
  const a = l.rng.nextInt(l.w.env.o.keys);
  return [a, intBetween(l.rng, a + 1, Math.min(l.w.env.o.keys, a + maxKeys))];
}

async function getOp(l: Lane, consistency: ReadConsistency, via: OpVia | undefined, key = someKey(l)): Promise<void> {
  await recordReads(l, [key], via, async () => {
    const v = await l.kv.get(codec.text(key), { consistency });
    return new Map([[key, v === undefined ? null : codec.fromText(v)]]);
  });
}

/** A scan's range [a, b) as indexes, and maybe a limit. */
function someScan(l: Lane): { a: number; b: number; limit: number | undefined } {
  const [a, b] = someRange(l, 7);
  return { a, b, limit: l.rng.nextFloat() < 0.3 ? intBetween(l.rng, 1, 3) : undefined };
}

/** The keys of [a, b). */
function keysOf(a: number, b: number): string[] {
  return Array.from({ length: b - a }, (_, j) => keyName(a + j));
}

/**
 * What a scan of [a, b) observed, from the pairs it returned in order: with a limit, only the
 * keys up to the last one returned (all when fewer came back); each covered key's value or
 * null, undefined for a key not covered.
 */
function scanObserved(l: Lane, pairs: readonly { key: Uint8Array; value: Uint8Array }[], reverse: boolean, a: number, b: number, limit: number | undefined): Map<string, string | null | undefined> {
  const found = new Map<string, string>();
  const order = pairs.map((p) => codec.fromText(p.key));
  pairs.forEach((p, i) => found.set(order[i], codec.fromText(p.value)));
  checkScanOrder(l, order, reverse, a, b);
  const cut = limit !== undefined && order.length >= limit ? order[order.length - 1] : undefined;
  const out = new Map<string, string | null | undefined>();
  for (const k of keysOf(a, b)) {
    const covered = cut === undefined || (reverse ? k >= cut : k <= cut);
    out.set(k, covered ? (found.get(k) ?? null) : undefined);
  }
  return out;
}

/** A forward or reverse scan of a random range, maybe with a limit (`scanObserved`), maybe a follower read. */
async function scanOp(l: Lane, reverse: boolean): Promise<void> {
  const { a, b, limit } = someScan(l);
  const follower = l.w.readConsistency === 'linearizable' && l.rng.nextFloat() < 0.3;
  const consistency: ReadConsistency = follower ? 'follower' : l.w.readConsistency;
  if (follower) l.w.stats.followerScan++;
  const ids = await recordReads(l, keysOf(a, b), reverse ? 'reverseScan' : follower ? 'followerScan' : 'scan', async () => {
    const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
    for await (const p of l.kv.scan({ start: codec.text(keyName(a)), end: codec.text(keyName(b)), reverse, consistency, ...(limit !== undefined ? { limit } : {}) })) pairs.push(p);
    return scanObserved(l, pairs, reverse, a, b, limit);
  });
  l.w.env.note(`${reverse ? 'reverse ' : ''}scan${follower ? ' (follower)' : ''} c${l.clientId} [${keyName(a)}, ${keyName(b)})${limit !== undefined ? ` limit ${limit}` : ''} as ops #${ids[0]}..#${ids[ids.length - 1]}`);
}

/** Scans must return keys inside the range, strictly ordered in the scan's direction, each once. */
function checkScanOrder(l: Lane, order: string[], reverse: boolean, a: number, b: number): void {
  for (let i = 0; i < order.length; i++) {
    const k = order[i];
    const inRange = k >= keyName(a) && k < keyName(b);
    const ordered = i === 0 || (reverse ? order[i - 1] > k : order[i - 1] < k);
    if (!inRange || !ordered) {
      l.w.env.scanProblems.push(`${reverse ? 'reverse ' : ''}scan c${l.clientId} [${keyName(a)}, ${keyName(b)}) returned ${JSON.stringify(order)} at ${now(l.w)}ms`);
      return;
    }
  }
}

/** Runs one op of a lane and records it. */
async function runOp(l: Lane): Promise<void> {
  const { stats } = l.w;
  const kind = weightedPick(l.rng, OP_WEIGHTS);
  switch (kind) {
    case 'put':
    case 'delete': {
      stats[kind]++;
      const key = someKey(l);
      const value = nextValue(l);
      const acked = await recordWrites(l, [{ kind, key, ...(kind === 'put' ? { value } : {}) }], undefined, () => (kind === 'put' ? l.kv.put(codec.text(key), codec.text(value)) : l.kv.delete(codec.text(key))));
      // Read your write at once, sometimes: a read right behind a write finds a leader (or a
      // follower) whose view is behind the acknowledgement, if one can be.
      if (acked && l.rng.nextFloat() < l.w.env.o.readAfterWriteChance) {
        const follower = l.rng.nextFloat() < 0.5;
        stats[follower ? 'followerGet' : 'get']++;
        await getOp(l, follower ? 'follower' : l.w.readConsistency, follower ? 'followerGet' : undefined, key);
      }
      return;
    }
    case 'get':
      stats.get++;
      // Under the harness mutation `staleReads` these are stale reads checked as linearizable: caught.
      return getOp(l, l.w.readConsistency, undefined);
    case 'followerGet':
      stats.followerGet++;
      return getOp(l, l.w.readConsistency === 'stale' ? 'stale' : 'follower', 'followerGet');
    case 'staleGet':
      stats.staleGet++;
      return getOp(l, 'stale', 'staleGet');
    case 'batchPut': {
      stats.batchPut++;
      const keys = someKeys(l, intBetween(l.rng, 2, 5));
      const value = nextValue(l);
      await recordWrites(l, keys.map((key) => ({ kind: 'put' as const, key, value })), 'batchPut', () => l.kv.batchPut(keys.map((key) => ({ key: codec.text(key), value: codec.text(value) }))));
      return;
    }
    case 'deleteRange': {
      stats.deleteRange++;
      const [a, b] = someRange(l, 5);
      const keys = Array.from({ length: b - a }, (_, j) => keyName(a + j));
      await recordWrites(l, keys.map((key) => ({ kind: 'delete' as const, key })), 'deleteRange', () => l.kv.deleteRange(codec.text(keyName(a)), codec.text(keyName(b))));
      return;
    }
    case 'scan':
    case 'reverseScan':
      stats[kind]++;
      return scanOp(l, kind === 'reverseScan');
    case 'stampedPut':
    case 'tabDelete':
    case 'tabBatchPut':
    case 'tabBatchDelete':
    case 'tabDeleteRange':
    case 'tabGet':
    case 'tabBatchGet':
    case 'tabScan':
      stats[kind]++;
      return tabOp(l, kind);
  }
}

/** The op kinds a simulated tab sends through a host tab (`tabs.ts`). */
type TabOpKind = 'stampedPut' | 'tabDelete' | 'tabBatchPut' | 'tabBatchDelete' | 'tabDeleteRange' | 'tabGet' | 'tabBatchGet' | 'tabScan';

/** A tab call's value, or a throw when every send failed (a write's outcome is then unknown, a read saw nothing). */
async function callFromTab(l: Lane, request: ClientRequest, opId: number): Promise<unknown> {
  const r = await tabCall(l.w, pick(l.rng, l.w.tabs), l.rng, request, opId);
  if (!r.ok) throw new Error(`tab ${request.type} (op #${opId}) failed: ${r.kind}${r.dropped ? ', a host died holding it' : ''}`);
  return r.value;
}

/** A tab read's consistency: the run's, or (a third of linearizable ones) a follower read. */
function tabReadConsistency(l: Lane): ReadConsistency {
  if (l.w.readConsistency !== 'linearizable' || l.rng.nextFloat() >= 1 / 3) return l.w.readConsistency;
  l.w.stats.tabFollowerRead++;
  return 'follower';
}

/** One call of a simulated tab, recorded as the same call made by a client would be. */
async function tabOp(l: Lane, kind: TabOpKind): Promise<void> {
  const t = codec.text;
  switch (kind) {
    case 'stampedPut':
    case 'tabDelete': {
      const key = someKey(l);
      const value = nextValue(l);
      const request: ClientRequest = kind === 'stampedPut' ? { type: 'put', key: t(key), value: t(value) } : { type: 'delete', key: t(key) };
      await recordWrites(l, [{ kind: kind === 'stampedPut' ? 'put' : 'delete', key, ...(kind === 'stampedPut' ? { value } : {}) }], kind, (id) => callFromTab(l, request, id));
      return;
    }
    case 'tabBatchPut':
    case 'tabBatchDelete': {
      const keys = someKeys(l, intBetween(l.rng, 2, 5));
      const value = nextValue(l);
      const put = kind === 'tabBatchPut';
      const request: ClientRequest = put ? { type: 'batchPut', pairs: keys.map((k) => ({ key: t(k), value: t(value) })) } : { type: 'batchDelete', keys: keys.map(t) };
      await recordWrites(l, keys.map((key) => (put ? { kind: 'put' as const, key, value } : { kind: 'delete' as const, key })), kind, (id) => callFromTab(l, request, id));
      return;
    }
    case 'tabDeleteRange': {
      const [a, b] = someRange(l, 5);
      await recordWrites(l, keysOf(a, b).map((key) => ({ kind: 'delete' as const, key })), kind, (id) => callFromTab(l, { type: 'deleteRange', start: t(keyName(a)), end: t(keyName(b)) }, id));
      return;
    }
    case 'tabGet': {
      const key = someKey(l);
      const consistency = tabReadConsistency(l);
      await recordReads(l, [key], kind, async (id) => {
        const v = (await callFromTab(l, { type: 'get', key: t(key), consistency }, id)) as Uint8Array | undefined;
        return new Map([[key, v === undefined ? null : codec.fromText(v)]]);
      });
      return;
    }
    case 'tabBatchGet': {
      const keys = someKeys(l, intBetween(l.rng, 2, 5));
      const consistency = tabReadConsistency(l);
      await recordReads(l, keys, kind, async (id) => {
        const values = (await callFromTab(l, { type: 'batchGet', keys: keys.map(t), consistency }, id)) as (Uint8Array | undefined)[];
        // One value (or undefined: absent) per key asked, in order.
        if (values.length !== keys.length) l.w.env.scanProblems.push(`tab batchGet c${l.clientId} of ${JSON.stringify(keys)} answered ${values.length} values at ${now(l.w)}ms`);
        return new Map(keys.map((k, j) => [k, values[j] === undefined ? null : codec.fromText(values[j]!)]));
      });
      return;
    }
    case 'tabScan': {
      const { a, b, limit } = someScan(l);
      const reverse = l.rng.nextFloat() < 0.5;
      const request: ClientRequest = { type: 'scan', start: t(keyName(a)), end: t(keyName(b)), reverse, consistency: tabReadConsistency(l), ...(limit !== undefined ? { limit } : {}) };
      const ids = await recordReads(l, keysOf(a, b), kind, async (id) => scanObserved(l, (await callFromTab(l, request, id)) as KvPair[], reverse, a, b, limit));
      l.w.env.note(`tab ${reverse ? 'reverse ' : ''}scan c${l.clientId} [${keyName(a)}, ${keyName(b)})${limit !== undefined ? ` limit ${limit}` : ''} as ops #${ids[0]}..#${ids[ids.length - 1]}`);
      return;
    }
  }
}

/** One op loop of client `clientId`: ops with think time until virtual time `untilMs`. */
export async function laneLoop(w: Workload, clientId: number, rng: SeededRng, untilMs: number, counter: { n: number }): Promise<void> {
  const l: Lane = { w, clientId, kv: w.clients[clientId], rng, counter };
  while (w.env.sched.now() < untilMs) {
    await runOp(l);
    await w.env.sched.sleep(rng.nextInt(w.env.o.thinkMsMax + 1));
  }
}

/** Every client's lanes (`lanesPerClient` loops each, sharing its value counter). */
export function clientLoops(w: Workload, rng: SeededRng, untilMs: number): Promise<void>[] {
  return w.clients.flatMap((_, i) => {
    const counter = { n: 0 };
    return Array.from({ length: w.env.o.lanesPerClient }, () => laneLoop(w, i, rng.fork(), untilMs, counter));
  });
}

/** After healing: reads every key once, linearizably, in the history (acknowledged writes must be there). */
export async function finalReads(env: ClusterEnv, kv: PeerKV, history: History, clientId: number): Promise<number> {
  let failed = 0;
  for (let i = 0; i < env.o.keys; i++) {
    const key = keyName(i);
    const id = history.invoke({ clientId, kind: 'get', key, via: 'finalRead' }, env.rel());
    try {
      const v = await kv.get(codec.text(key), { consistency: 'linearizable' });
      history.ok(id, env.rel(), v === undefined ? null : codec.fromText(v));
    } catch {
      history.fail(id, env.rel());
      failed++;
    }
  }
  return failed;
}
