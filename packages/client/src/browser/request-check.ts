/**
 * The check of a `KvRequest` from another tab (or the page): one entry per op naming its
 * fields, with the store's field checker (`FieldCheck`). An unknown op or a field of the
 * wrong type is refused with `BrowserKvError('InvalidArgument')` before anything runs; the
 * values themselves (empty keys, sizes) are checked where they are used (`write-ops.ts`,
 * the client).
 */
import { StoreRequestError, fieldsOf, type FieldCheck, type ReadConsistency } from '@peerkv/store';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../client.ts';
import { TXN_KEYS_MAX } from '../txn/transaction.ts';
import { OFFLINE_RANGES_PER_TXN_MAX } from '../txn/offline-queue.ts';
import { WATCH_BUFFER_EVENTS_MAX } from '../txn/watch.ts';
import { WATCH_NEXT_EVENTS_MAX, WATCH_NEXT_WAIT_MS_MAX } from './host-watches.ts';
import { BrowserKvError, TAB_TXN_REQUEST_TYPES, type KvRequest } from './protocol.ts';

/** Keys or pairs one batch request may carry. */
export const BATCH_ITEMS_MAX = 65_536;
/** Stores one `partition` hook may name. */
const HOOK_STORES_MAX = 1024;

const CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'follower', 'stale'];

function consistency(f: FieldCheck, v: unknown): void {
  if (v !== undefined) f.oneOf('consistency', CONSISTENCIES, v);
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

type Checks = { readonly [Op in KvRequest['op']]: (f: FieldCheck, q: Record<string, unknown>) => void };

/** Each op's field check. */
const CHECKS: Checks = {
  get: (f, q) => (key(f, 'key', q.key), consistency(f, q.consistency)),
  batchGet: (f, q) => (f.array('keys', BATCH_ITEMS_MAX, (k, n) => key(f, n, k)), consistency(f, q.consistency)),
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
    consistency(f, q.consistency);
  },
  status: () => {},
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
    if (q.maxStaleness !== undefined && !(typeof q.maxStaleness === 'number' && q.maxStaleness >= 0)) throw new StoreRequestError('BadField', 'maxStaleness: want a number of ms ≥ 0');
    if (q.readTs !== undefined) ts('readTs', q.readTs);
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
  stopStore: (f) => void f.uint('storeId'),
  startStore: (f) => void f.uint('storeId'),
  partitionStore: (f) => void f.uint('storeId'),
  partition: (f) => f.array('storeIds', HOOK_STORES_MAX, (id, n) => f.uint(n, id)),
  heal: () => {},
  // A number of any value passes: its range is the hook's to judge (`InvalidHook`, like every hook's arguments).
  slowDisk: (f, q) => void (typeof q.delayMs === 'number' || f.uint('delayMs')),
  splitRegion: (f, q) => void key(f, 'splitKey', q.splitKey),
};

/** `req` as a `KvRequest`, or `InvalidArgument` naming what is wrong. Throws nothing else. */
export function checkKvRequest(req: unknown): KvRequest {
  const op = (req as { op?: unknown } | null | undefined)?.op;
  if (typeof op !== 'string' || !Object.hasOwn(CHECKS, op)) {
    throw new BrowserKvError('InvalidArgument', `unknown request op ${typeof op === 'string' ? `'${op.slice(0, 64)}'` : typeof op}`);
  }
  try {
    const f = fieldsOf(req, op);
    CHECKS[op as KvRequest['op']](f, req as Record<string, unknown>);
  } catch (e) {
    if (e instanceof StoreRequestError) throw new BrowserKvError('InvalidArgument', e.message.replace(/^BadField: /, ''));
    throw e;
  }
  return req as KvRequest;
}
