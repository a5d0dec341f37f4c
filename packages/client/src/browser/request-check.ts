/**
 * The check of a `TabRequest` from another tab (or the page): its `kind` names one of three
 * tables (`kv`, `tab`, `hook`), and each table has one entry per request type naming its
 * fields, with the store's field checker (`FieldCheck`). An unknown kind or type or a field of
 * the wrong type is refused with `BrowserKvError('InvalidArgument')` before anything runs; the
 * values themselves (empty keys, sizes) are checked where they are used (`write-ops.ts`,
 * the client).
 */
import { StoreRequestError, fieldsOf, type FieldCheck, type ReadConsistency } from '@peerkv/store';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../client.ts';
import { TXN_KEYS_MAX } from '../txn/transaction.ts';
import { OFFLINE_RANGES_PER_TXN_MAX } from '../txn/offline-queue.ts';
import { WATCH_BUFFER_EVENTS_MAX } from '../txn/watch.ts';
import { WATCH_NEXT_EVENTS_MAX, WATCH_NEXT_WAIT_MS_MAX } from './host-watches.ts';
import { BrowserKvError, TAB_TXN_REQUEST_TYPES, type ClientRequest, type HookRequest, type TabOnlyRequest, type TabRequest, type TabRequestKind } from './protocol.ts';

/** Keys or pairs one batch request may carry. */
export const BATCH_ITEMS_MAX = 65_536;
/** Stores one `partition` hook may name. */
const HOOK_STORES_MAX = 1024;

const CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'follower', 'stale'];

function consistency(f: FieldCheck, v: unknown): void {
  if (v !== undefined) f.oneOf('consistency', CONSISTENCIES, v);
}

/** A read at a timestamp: `readTs` or `maxStaleness` (ms ≥ 0 or Infinity, not NaN), not both. */
function staleness(q: Record<string, unknown>): void {
  if (q.maxStaleness !== undefined && !(typeof q.maxStaleness === 'number' && q.maxStaleness >= 0)) throw new StoreRequestError('BadField', 'maxStaleness: want a number of ms ≥ 0');
  if (q.readTs !== undefined) ts('readTs', q.readTs);
  if (q.readTs !== undefined && q.maxStaleness !== undefined) throw new StoreRequestError('BadField', 'readTs, maxStaleness: want one of the two, not both');
}

/** How a get, batchGet or scan reads (`ReadFields`). */
function readFields(f: FieldCheck, q: Record<string, unknown>): void {
  consistency(f, q.consistency);
  staleness(q);
}

function stamp(f: FieldCheck, v: unknown): void {
  if (v === undefined) return;
  const s = f.object('stamp', v);
  f.string('stamp.clientId', 1024, s.clientId);
  f.uint('stamp.seq', s.seq);
  if (s.ackFloor !== undefined) f.uint('stamp.ackFloor', s.ackFloor);
}

const key = (f: FieldCheck, name: string, v: unknown): unknown => f.bytes(name, KEY_BYTES_MAX, v);

/** A TSO timestamp: a positive bigint below 2^64. */
function ts(name: string, v: unknown): void {
  if (typeof v !== 'bigint' || v <= 0n || v >= 1n << 64n) throw new StoreRequestError('BadField', `${name}: want a positive bigint timestamp`);
}

/** An integer in [min, max]. */
function intIn(name: string, v: unknown, max: number, min = 1): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new StoreRequestError('BadField', `${name}: want an integer in [${min}, ${max}]`);
}

/** Characters of a watch id (a UUID). */
const WATCH_ID_CHARS_MAX = 64;

/** Bytes of a range digest (SHA-256). */
const RANGE_DIGEST_BYTES = 32;

/** Mutations one `commitTxn` may carry (the client's `TXN_KEYS_MAX`). */
export const COMMIT_MUTATIONS_MAX = TXN_KEYS_MAX;

/** One field check per request type of a table. */
type Checks<Q extends { type: string }> = { readonly [T in Q['type']]: (f: FieldCheck, q: Record<string, unknown>) => void };

/** Each client request type's field check (table `kv`). */
const CLIENT_CHECKS: Checks<ClientRequest> = {
  get: (f, q) => (key(f, 'key', q.key), readFields(f, q)),
  batchGet: (f, q) => (f.array('keys', BATCH_ITEMS_MAX, (k, n) => key(f, n, k)), readFields(f, q)),
  put: (f, q) => (key(f, 'key', q.key), f.bytes('value', VALUE_BYTES_MAX), stamp(f, q.stamp)),
  delete: (f, q) => (key(f, 'key', q.key), stamp(f, q.stamp)),
  batchPut: (f, q) => {
    f.array('pairs', BATCH_ITEMS_MAX, (p, n) => {
      const pair = f.object(n, p);
      key(f, `${n}.key`, pair.key);
      f.bytes(`${n}.value`, VALUE_BYTES_MAX, pair.value);
    });
    stamp(f, q.stamp);
  },
  batchDelete: (f, q) => (f.array('keys', BATCH_ITEMS_MAX, (k, n) => key(f, n, k)), stamp(f, q.stamp)),
  deleteRange: (f, q) => (key(f, 'start', q.start), key(f, 'end', q.end), stamp(f, q.stamp)),
  scan: (f, q) => {
    if (q.start !== undefined) key(f, 'start', q.start);
    if (q.end !== undefined) key(f, 'end', q.end);
    if (q.limit !== undefined) f.limit('limit');
    f.optBool('reverse');
    readFields(f, q);
  },
  getTimestamp: () => {},
  snapshotGet: (f, q) => (ts('ts', q.ts), key(f, 'key', q.key)),
  snapshotScan: (f, q) => {
    ts('ts', q.ts);
    if (q.start !== undefined) key(f, 'start', q.start);
    if (q.end !== undefined) key(f, 'end', q.end);
    if (q.limit !== undefined) f.limit('limit');
  },
  staleScan: (f, q) => {
    if (q.start !== undefined) key(f, 'start', q.start);
    if (q.end !== undefined) key(f, 'end', q.end);
    if (q.limit !== undefined) f.limit('limit');
    staleness(q);
  },
  staleBatchGet: (f, q) => {
    f.array('keys', BATCH_ITEMS_MAX, (k, n) => key(f, n, k));
    if (q.readTs === undefined && q.maxStaleness === undefined) throw new StoreRequestError('BadField', 'readTs, maxStaleness: want one of the two');
    staleness(q);
  },
  commitTxn: (f, q) => {
    ts('startTs', q.startTs);
    f.array('mutations', COMMIT_MUTATIONS_MAX, (m, n) => {
      const mut = f.object(n, m);
      key(f, `${n}.key`, mut.key);
      if (mut.op === 'put') f.bytes(`${n}.value`, VALUE_BYTES_MAX, mut.value);
      else if (mut.op !== 'delete' && mut.op !== 'lock') throw new StoreRequestError('BadField', `${n}.op: want 'put', 'delete' or 'lock'`);
      f.optBool(`${n}.pessimistic`, mut.pessimistic);
      // A lock mutation or a pessimistic one belongs to a pessimistic transaction.
      if ((mut.op === 'lock' || mut.pessimistic === true) && q.forUpdateTs === undefined) throw new StoreRequestError('BadField', `${n}: a lock or pessimistic mutation needs forUpdateTs`);
    });
    f.optUint('lockTtlMs');
    f.optBool('onePc');
    f.optBool('asyncCommit');
    f.optUint('beganAgoMs');
    if (q.forUpdateTs !== undefined) ts('forUpdateTs', q.forUpdateTs);
  },
  commitQueuedTxn: (f, q) => {
    ts('startTs', q.startTs);
    ts('readTs', q.readTs);
    f.array('mutations', COMMIT_MUTATIONS_MAX, (m, n) => {
      const mut = f.object(n, m);
      key(f, `${n}.key`, mut.key);
      if (mut.op === 'put') f.bytes(`${n}.value`, VALUE_BYTES_MAX, mut.value);
      else if (mut.op !== 'delete' && mut.op !== 'lock') throw new StoreRequestError('BadField', `${n}.op: want 'put', 'delete' or 'lock'`);
    });
    f.array('ranges', OFFLINE_RANGES_PER_TXN_MAX, (g, n) => {
      const r = f.object(n, g);
      f.bytes(`${n}.start`, KEY_BYTES_MAX, r.start);
      f.bytes(`${n}.end`, KEY_BYTES_MAX, r.end);
      f.bytes(`${n}.digest`, RANGE_DIGEST_BYTES, r.digest);
    });
    f.optUint('lockTtlMs');
    f.optUint('beganAgoMs');
  },
  decideTxnAttempt: (f, q) => (ts('startTs', q.startTs), key(f, 'primary', q.primary)),
  txnRegionRequest: (f, q) => {
    key(f, 'locate', q.locate);
    if (q.keys !== undefined) f.array('keys', COMMIT_MUTATIONS_MAX, (k, n) => key(f, n, k));
    const r = f.object('request', q.request);
    // The store checks the request's own fields; here only that it is one a tab may send.
    f.oneOf('request.type', TAB_TXN_REQUEST_TYPES, r.type);
  },
  txnRoute: (f, q) => void key(f, 'key', q.key),
};

/** Each tab-only request type's field check (table `tab`). */
const TAB_ONLY_CHECKS: Checks<TabOnlyRequest> = {
  status: () => {},
  watchOpen: (f, q) => {
    f.bytes('start', KEY_BYTES_MAX, q.start);
    if (q.end !== undefined) key(f, 'end', q.end);
    if (q.fromTs !== undefined) ts('fromTs', q.fromTs);
    if (q.bufferEventsMax !== undefined) intIn('bufferEventsMax', q.bufferEventsMax, WATCH_BUFFER_EVENTS_MAX);
  },
  watchNext: (f, q) => {
    f.string('watchId', WATCH_ID_CHARS_MAX, q.watchId);
    if (q.eventsMax !== undefined) intIn('eventsMax', q.eventsMax, WATCH_NEXT_EVENTS_MAX);
    if (q.waitMs !== undefined) intIn('waitMs', q.waitMs, WATCH_NEXT_WAIT_MS_MAX, 0);
  },
  watchClose: (f, q) => void f.string('watchId', WATCH_ID_CHARS_MAX, q.watchId),
  trace: (_f, q) => {
    if (typeof q.on !== 'boolean') throw new StoreRequestError('BadField', 'on: want a boolean');
  },
};

/** Each hook's field check (table `hook`). */
const HOOK_CHECKS: Checks<HookRequest> = {
  stopStore: (f) => void f.uint('storeId'),
  startStore: (f) => void f.uint('storeId'),
  partitionStore: (f) => void f.uint('storeId'),
  partition: (f) => f.array('storeIds', HOOK_STORES_MAX, (id, n) => f.uint(n, id)),
  heal: () => {},
  // A number of any value passes: its range is the hook's to judge (`InvalidHook`, like every hook's arguments).
  slowDisk: (f, q) => void (typeof q.delayMs === 'number' || f.uint('delayMs')),
  splitRegion: (f, q) => void key(f, 'splitKey', q.splitKey),
};

/** The check tables by `kind`. */
const TABLES: { readonly [K in TabRequestKind]: Checks<Extract<TabRequest, { kind: K }>['request']> } = { kv: CLIENT_CHECKS, tab: TAB_ONLY_CHECKS, hook: HOOK_CHECKS };

/** Characters of an unknown kind or type a refusal quotes at most. */
const QUOTED_CHARS_MAX = 64;

/** `v` quoted for a refusal (a string, cut), or its JavaScript type. */
function quoted(v: unknown): string {
  return typeof v === 'string' ? `'${v.slice(0, QUOTED_CHARS_MAX)}'` : typeof v;
}

/** `req` as a `TabRequest`, or `InvalidArgument` naming what is wrong. Throws nothing else. */
export function checkTabRequest(req: unknown): TabRequest {
  const kind = (req as { kind?: unknown } | null | undefined)?.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(TABLES, kind)) throw new BrowserKvError('InvalidArgument', `unknown request kind ${quoted(kind)}`);
  const checks = TABLES[kind as TabRequestKind] as Record<string, (f: FieldCheck, q: Record<string, unknown>) => void>;
  const inner = (req as { request?: unknown }).request;
  const type = (inner as { type?: unknown } | null | undefined)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(checks, type)) throw new BrowserKvError('InvalidArgument', `unknown ${kind} request type ${quoted(type)}`);
  try {
    checks[type](fieldsOf(inner, type), inner as Record<string, unknown>);
  } catch (e) {
    if (e instanceof StoreRequestError) throw new BrowserKvError('InvalidArgument', e.message.replace(/^BadField: /, ''));
    throw e;
  }
  return req as TabRequest;
}
