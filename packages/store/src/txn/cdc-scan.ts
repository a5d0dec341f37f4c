/**
 * The change feed's incremental scan (TiKV CDC's `Initializer` scan, without its delta
 * stream): over one consistent snapshot of the `write` (and, for long values, `default`)
 * column families, the committed puts and deletes of a key range with commitTs in
 * (fromTs, toTs], as one page ordered by (commitTs, key).
 *
 * The `write` cf is ordered by key, then commitTs descending; the page is ordered by commitTs.
 * So the whole range is walked once, each key from its newest version down to `fromTs` (older
 * versions are skipped by starting again past the key), and only the `eventsMax + 1` smallest
 * (commitTs, key) candidates are kept: memory is bounded by the page, time by the region's
 * size (a region splits before it grows large). `lock` and `rollback` records change no value
 * and are no events. Values are read for the kept events only.
 *
 * A page cut by its limits says up to where it is complete: if it ends between two commit
 * timestamps, everything up to the last one delivered (`resolvedTs = c`); if it ends inside
 * one commitTs `c` (a transaction of many keys), everything below it (`c − 1`) plus the
 * `cursor` (c, last key delivered), which the next pull skips past.
 */
import { CF_DEFAULT, CF_WRITE, compareBytes, decodeMvccKey, decodeWrite, encodeKey, encodeMvccKey, encodedKeyEnd, type CfReader, type CfScanOptions, type Timestamp } from '@peerkv/txn';
import type { CdcCursor, CdcEvent, TxnCdcResult } from './types.ts';

/** What one incremental scan reads: [start, end) (no end: unbounded), commitTs in (fromTs, toTs], past `cursor`. */
export interface CdcScanRange {
  start: Uint8Array;
  end?: Uint8Array;
  fromTs: Timestamp;
  toTs: Timestamp;
  cursor?: CdcCursor;
}

/** A page's limits: events, and bytes of keys and values (a page holds at least one event). */
export interface CdcPageLimits {
  eventsMax: number;
  bytesMax: number;
}

/** A candidate event before its value is read. */
export interface Candidate {
  key: Uint8Array;
  commitTs: Timestamp;
  kind: 'put' | 'delete';
  startTs: Timestamp;
  shortValue?: Uint8Array;
}

function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.commitTs !== b.commitTs) return a.commitTs < b.commitTs ? -1 : 1;
  return compareBytes(a.key, b.key);
}

/** Keeps the `max` smallest candidates, sorted; says whether any was dropped. */
class SmallestCandidates {
  readonly kept: Candidate[] = [];
  dropped = false;

  constructor(private readonly max: number) {}

  offer(c: Candidate): void {
    const kept = this.kept;
    if (kept.length === this.max && compareCandidates(c, kept[kept.length - 1]) >= 0) {
      this.dropped = true;
      return;
    }
    // Binary search for the insertion point (the page is small: a splice is cheap).
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareCandidates(kept[mid], c) < 0) lo = mid + 1;
      else hi = mid;
    }
    kept.splice(lo, 0, c);
    if (kept.length > this.max) {
      kept.pop();
      this.dropped = true;
    }
  }
}

/** Whether the cursor says this candidate was delivered already. */
function pastCursor(c: Candidate, cursor: CdcCursor | undefined): boolean {
  return cursor === undefined || c.commitTs !== cursor.commitTs || compareBytes(c.key, cursor.key) > 0;
}

/** Walks the write cf of the range and offers every candidate to `into`; `seen` sees every record visited (each key's newest among them). */
async function collect(cfs: CfReader, q: CdcScanRange, into: SmallestCandidates, seen?: (key: Uint8Array, ts: Timestamp) => void): Promise<void> {
  const end = q.end === undefined ? undefined : encodeKey(q.end);
  let from: Uint8Array | undefined = encodeKey(q.start);
  while (from !== undefined) {
    const options: CfScanOptions = end === undefined ? { start: from } : { start: from, end };
    from = undefined;
    for await (const pair of cfs.scan(CF_WRITE, options)) {
      const { key, ts } = decodeMvccKey(pair.key);
      seen?.(key, ts);
      if (ts > q.toTs) continue;
      if (ts <= q.fromTs) {
        // This key's older versions are all at or below fromTs: go on past the key.
        from = encodedKeyEnd(encodeKey(key));
        break;
      }
      const w = decodeWrite(pair.value);
      if (w.kind !== 'put' && w.kind !== 'delete') continue;
      const c: Candidate = { key, commitTs: ts, kind: w.kind, startTs: w.startTs, ...(w.shortValue === undefined ? {} : { shortValue: w.shortValue }) };
      if (pastCursor(c, q.cursor)) into.offer(c);
    }
  }
}

/** The event of a candidate, its value read from `default` when it is not short (missing: undefined if `missingIsUndefined`, else corrupt data). */
async function eventOf(cfs: CfReader, c: Candidate, missingIsUndefined: boolean): Promise<CdcEvent | undefined> {
  if (c.kind === 'delete') return { type: 'delete', key: c.key, commitTs: c.commitTs };
  const value = c.shortValue ?? (await cfs.get(CF_DEFAULT, encodeMvccKey(c.key, c.startTs)));
  if (value === undefined && missingIsUndefined) return undefined;
  // A committed put's long value is written with its lock and kept while its record is: its absence is corrupt data.
  if (value === undefined) throw new Error(`cdc: the long value of a put committed at ${c.commitTs} is missing`);
  return { type: 'put', key: c.key, value, commitTs: c.commitTs };
}

/** Bytes an event counts against a page's `bytesMax`. */
export function cdcEventBytes(e: CdcEvent): number {
  return e.key.length + (e.type === 'put' ? e.value.length : 0) + 16;
}

/**
 * One page of the range's committed changes (see the module comment). `seen` sees every
 * `write` record the walk visits, which includes the newest record of every key in the range.
 */
export async function incrementalScan(cfs: CfReader, q: CdcScanRange, limits: CdcPageLimits, seen?: (key: Uint8Array, ts: Timestamp) => void): Promise<TxnCdcResult> {
  const best = new SmallestCandidates(limits.eventsMax + 1);
  await collect(cfs, q, best, seen);
  return (await pageOf(cfs, best, q, limits))!;
}

/**
 * The same page from records already at hand (the change feed's buffer: `cdc-buffer.ts`), in
 * any order, each in the range, in (fromTs, toTs] and past the cursor; long values are read
 * from `cfs`. Undefined when a long value is missing (GC took the version meanwhile: the
 * caller scans instead, which answers as a scan does).
 */
export async function pageFromRecords(cfs: CfReader, records: Iterable<Candidate>, q: CdcScanRange, limits: CdcPageLimits): Promise<TxnCdcResult | undefined> {
  const best = new SmallestCandidates(limits.eventsMax + 1);
  for (const c of records) best.offer(c);
  return pageOf(cfs, best, q, limits, true);
}

async function pageOf(cfs: CfReader, best: SmallestCandidates, q: CdcScanRange, limits: CdcPageLimits, missingIsUndefined = false): Promise<TxnCdcResult | undefined> {
  const events: CdcEvent[] = [];
  let bytes = 0;
  for (const c of best.kept.slice(0, limits.eventsMax)) {
    const e = await eventOf(cfs, c, missingIsUndefined);
    if (e === undefined) return undefined;
    const size = cdcEventBytes(e);
    if (events.length > 0 && bytes + size > limits.bytesMax) break;
    events.push(e);
    bytes += size;
  }
  if (events.length === best.kept.length && !best.dropped) return { events, resolvedTs: q.toTs, more: false };
  // Cut: the next candidate not delivered says whether the page ended inside a commitTs.
  const last = events[events.length - 1];
  const next = best.kept[events.length];
  if (last === undefined) return { events, resolvedTs: q.fromTs, more: true };
  if (next.commitTs > last.commitTs) return { events, resolvedTs: last.commitTs, more: true };
  return { events, resolvedTs: last.commitTs - 1n, cursor: { commitTs: last.commitTs, key: last.key }, more: true };
}
