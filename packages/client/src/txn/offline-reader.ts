/**
 * The read side of a queued offline transaction: `RecordingReader` wraps the reader at the
 * local replica's resolved ts and records what the transaction's function read — the keys it
 * got, and each range it scanned with the pairs it saw — so that the commit, when the quorum is
 * back, can check that none of it changed (`offline-txns.ts`). `rangeDigest` is how a range's
 * content is compared: SHA-256 over the length-prefixed pairs, in key order.
 */
import { compareKeys } from '@peerkv/pd';
import { PeerKVError } from '../errors.ts';
import type { KvPair } from '../services.ts';
import { OFFLINE_RANGES_PER_TXN_MAX, type QueuedRangeRead } from './offline-queue.ts';
import { TXN_KEYS_MAX, type TxnReader } from './transaction.ts';

/** What a reader at a lazily fixed ts offers (the stale reader: its ts is the first answer's). */
export interface LazyTsReader {
  readonly ts: bigint | undefined;
  get(key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  scan(start: Uint8Array, end: Uint8Array, limit: number, signal?: AbortSignal): AsyncIterableIterator<KvPair>;
}

interface RangeSeen {
  start: Uint8Array;
  end: Uint8Array;
  pairs: KvPair[];
}

function slot(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** The smallest key above `key`. */
function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** A `TxnReader` that records the keys and ranges read through it. */
export class RecordingReader implements TxnReader {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly ranges: RangeSeen[] = [];

  constructor(private readonly inner: LazyTsReader) {}

  /** The read ts (0 until the first read answered: the transaction sees it only through reads). */
  get ts(): bigint {
    return this.inner.ts ?? 0n;
  }

  /** The read ts, once a read answered. */
  get readTs(): bigint | undefined {
    return this.inner.ts;
  }

  async get(key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.keys.size >= TXN_KEYS_MAX && !this.keys.has(slot(key))) throw new PeerKVError('InvalidArgument', `a queued transaction reads at most ${TXN_KEYS_MAX} keys (each is locked when it commits)`);
    const v = await this.inner.get(key, signal);
    this.keys.set(slot(key), key);
    return v;
  }

  async *scan(start: Uint8Array, end: Uint8Array, limit: number, signal?: AbortSignal): AsyncIterableIterator<KvPair> {
    if (this.ranges.length >= OFFLINE_RANGES_PER_TXN_MAX) throw new PeerKVError('InvalidArgument', `a queued transaction scans at most ${OFFLINE_RANGES_PER_TXN_MAX} ranges`);
    const seen: RangeSeen = { start, end, pairs: [] };
    this.ranges.push(seen);
    let exhausted = false;
    try {
      for await (const p of this.inner.scan(start, end, limit, signal)) {
        seen.pairs.push(p);
        yield p;
      }
      exhausted = seen.pairs.length < limit;
    } finally {
      // Stopped early (the caller had enough): what was read covers up to the last pair seen.
      if (!exhausted) seen.end = seen.pairs.length === 0 ? start : successor(seen.pairs[seen.pairs.length - 1].key);
    }
  }

  /** Reads a key to fix the ts without recording it (a transaction that only wrote). */
  async fixTs(key: Uint8Array, signal?: AbortSignal): Promise<bigint> {
    if (this.inner.ts === undefined) await this.inner.get(key, signal);
    if (this.inner.ts === undefined) throw new PeerKVError('Unavailable', 'the local replica answered no read ts');
    return this.inner.ts;
  }

  /** The keys read, except `written` ones (a written key is checked anyway). */
  readKeys(written: ReadonlySet<string>): Uint8Array[] {
    return [...this.keys].filter(([s]) => !written.has(s)).map(([, k]) => k);
  }

  /** The ranges read (empty ones dropped), each with the digest of what it held. */
  async rangeReads(): Promise<QueuedRangeRead[]> {
    const out: QueuedRangeRead[] = [];
    for (const r of this.ranges) {
      if (r.end.length > 0 && compareKeys(r.start, r.end) >= 0) continue;
      out.push({ start: r.start, end: r.end, digest: await rangeDigest(r.pairs) });
    }
    return out;
  }
}

/** SHA-256 of `pairs` (u32 key length, key, u32 value length, value; in the order given). */
export async function rangeDigest(pairs: readonly KvPair[]): Promise<Uint8Array> {
  let n = 0;
  for (const p of pairs) n += 8 + p.key.length + p.value.length;
  const buf = new Uint8Array(n);
  const view = new DataView(buf.buffer);
  let at = 0;
  for (const p of pairs) {
    view.setUint32(at, p.key.length);
    buf.set(p.key, at + 4);
    at += 4 + p.key.length;
    view.setUint32(at, p.value.length);
    buf.set(p.value, at + 4);
    at += 4 + p.value.length;
  }
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', buf));
}

/** Whether two digests are equal. */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
