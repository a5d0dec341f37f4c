/**
 * The change feed's store side: the incremental scan over MVCC records (order, what is an
 * event, long values, pages cut by events and bytes with the watermark and cursor they leave),
 * the `txnCdcPull` wire codec (golden bytes and round trips), and its field checks.
 */
import { describe, expect, it } from 'vitest';
import { MemoryCfs, encodeKey, putValue, putWrite, type Write } from '@peerkv/txn';
import { decodeStoreRequest, decodeStoreResponse, encodeStoreRequest, encodeStoreResponse, StoreRequestError, type StoreRequest, type StoreResponse } from '../src/index.ts';
import { incrementalScan, type CdcScanRange } from '../src/txn/cdc-scan.ts';
import { handleTxnCdcPull } from '../src/handlers/cdc.ts';
import type { CdcEvent } from '../src/txn/types.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);
const t = (b: Uint8Array): string => new TextDecoder().decode(b);
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const show = (e: CdcEvent): string => `${e.commitTs}:${t(e.key)}=${e.type === 'put' ? t(e.value) : '∅'}`;

/** A region's records: puts, deletes, a rollback and a lock record, a long value. */
function history(): MemoryCfs {
  const cfs = new MemoryCfs();
  const w = (kind: Write['kind'], startTs: bigint, shortValue?: string): Write => ({ kind, startTs, hasOverlappedRollback: false, ...(shortValue === undefined ? {} : { shortValue: k(shortValue) }) });
  const long = 'L'.repeat(300);
  cfs.apply([
    putWrite(k('a'), 10n, w('put', 9n, 'a10')),
    putWrite(k('a'), 30n, w('put', 29n, 'a30')),
    putWrite(k('a'), 50n, w('delete', 49n)),
    putWrite(k('b'), 20n, w('put', 19n, 'b20')),
    putWrite(k('b'), 25n, w('rollback', 25n)),
    putWrite(k('b'), 40n, w('lock', 39n)),
    putWrite(k('c'), 30n, w('put', 28n)),
    putValue(k('c'), 28n, k(long)),
    putWrite(k('d'), 30n, w('put', 29n, 'd30')),
    putWrite(k('e'), 60n, w('put', 59n, 'e60')),
  ]);
  return cfs;
}

const range = (o: Partial<CdcScanRange> = {}): CdcScanRange => ({ start: k('a'), end: k('z'), fromTs: 0n, toTs: 55n, ...o });
const big = { eventsMax: 100, bytesMax: 1 << 20 };

describe('incremental scan', () => {
  it('answers the puts and deletes in (fromTs, toTs] by commitTs then key, with their values, and toTs as watermark', async () => {
    const page = await incrementalScan(history(), range({ fromTs: 10n }), big);
    expect(page.events.map((e) => (e.type === 'put' && e.value.length > 50 ? `${e.commitTs}:${t(e.key)}=long${e.value.length}` : show(e)))).toEqual(['20:b=b20', '30:a=a30', '30:c=long300', '30:d=d30', '50:a=∅']);
    expect(page.resolvedTs).toBe(55n);
    expect(page.more).toBe(false);
    expect(page.cursor).toBeUndefined();
  });

  it('keeps to the key range and skips rollbacks and lock records', async () => {
    const page = await incrementalScan(history(), range({ start: k('b'), end: k('c'), fromTs: 0n, toTs: 100n }), big);
    expect(page.events.map(show)).toEqual(['20:b=b20']);
    const all = await incrementalScan(history(), range({ start: k(''), end: undefined, toTs: 100n }), big);
    expect(all.events.map((e) => `${e.commitTs}:${t(e.key)}`)).toEqual(['10:a', '20:b', '30:a', '30:c', '30:d', '50:a', '60:e']);
  });

  it('cut between two commit timestamps: the watermark is the last one delivered, no cursor', async () => {
    const page = await incrementalScan(history(), range({ fromTs: 10n }), { eventsMax: 1, bytesMax: 1 << 20 });
    expect(page.events.map(show)).toEqual(['20:b=b20']);
    expect(page).toMatchObject({ resolvedTs: 20n, more: true });
    expect(page.cursor).toBeUndefined();
  });

  it('cut inside one commitTs: the watermark is below it and the cursor resumes exactly after the last key', async () => {
    const seen: string[] = [];
    let q = range({ fromTs: 20n });
    const watermarks: bigint[] = [];
    for (let i = 0; i < 10; i++) {
      const page = await incrementalScan(history(), q, { eventsMax: 1, bytesMax: 1 << 20 });
      seen.push(...page.events.map((e) => `${e.commitTs}:${t(e.key)}`));
      watermarks.push(page.resolvedTs);
      if (!page.more) break;
      q = { ...q, fromTs: page.resolvedTs, ...(page.cursor ? { cursor: page.cursor } : {}) };
      if (!page.cursor) delete q.cursor;
    }
    expect(seen).toEqual(['30:a', '30:c', '30:d', '50:a']);
    expect(watermarks).toEqual([29n, 29n, 30n, 55n]);
  });

  it('cuts by bytes after the first event (a page always holds one)', async () => {
    const page = await incrementalScan(history(), range({ fromTs: 20n }), { eventsMax: 100, bytesMax: 10 });
    expect(page.events.map((e) => `${e.commitTs}:${t(e.key)}`)).toEqual(['30:a']);
    expect(page.cursor).toEqual({ commitTs: 30n, key: k('a') });
    expect(page.resolvedTs).toBe(29n);
  });

  it('answers nothing when nothing is new, with toTs as watermark', async () => {
    const page = await incrementalScan(history(), range({ fromTs: 60n, toTs: 70n }), big);
    expect(page).toEqual({ events: [], resolvedTs: 70n, more: false });
    expect(encodeKey(k('a')).length).toBe(9);
  });
});

const epoch = { confVer: 1, version: 3 };
const PULLS: StoreRequest[] = [
  { type: 'txnCdcPull', regionId: 2, epoch, start: k('a'), end: k('z'), fromTs: 99n, cursor: { commitTs: 100n, key: k('m') }, eventsMax: 10, bytesMax: 4096, waitMs: 500, timeoutMs: 1000 },
  { type: 'txnCdcPull', regionId: 2, epoch, start: k(''), fromTs: 1n, eventsMax: 1, bytesMax: 1, waitMs: 0 },
];
const ANSWERS: StoreResponse[] = [
  {
    type: 'txn',
    result: { ok: true, value: { ok: true, value: { kind: 'cdc', events: [{ type: 'put', key: k('a'), value: k('1'), commitTs: 7n }, { type: 'delete', key: k('b'), commitTs: 8n }], resolvedTs: 8n, more: false } } },
  },
  { type: 'txn', result: { ok: true, value: { ok: true, value: { kind: 'cdc', events: [], resolvedTs: 9n, cursor: { commitTs: 10n, key: k('c') }, more: true } } } },
];

describe('txnCdcPull codec', () => {
  it('keeps its wire bytes (golden)', () => {
    expect(hex(encodeStoreRequest(PULLS[0]))).toBe(GOLDEN_PULL);
    expect(hex(encodeStoreResponse(ANSWERS[0]))).toBe(GOLDEN_ANSWER);
  });

  it('round-trips requests and answers, and refuses every truncation', () => {
    for (const q of PULLS) expect(decodeStoreRequest(encodeStoreRequest(q))).toEqual(q);
    for (const s of ANSWERS) expect(decodeStoreResponse(encodeStoreResponse(s))).toEqual(s);
    for (const bytes of [...PULLS.map(encodeStoreRequest)]) for (let n = 0; n < bytes.length; n++) expect(() => decodeStoreRequest(bytes.subarray(0, n))).toThrow();
    for (const bytes of [...ANSWERS.map(encodeStoreResponse)]) for (let n = 0; n < bytes.length; n++) expect(() => decodeStoreResponse(bytes.subarray(0, n))).toThrow();
  });
});

describe('txnCdcPull field checks', () => {
  const env = { ctx: { dataModel: 'mvcc' } } as unknown as Parameters<typeof handleTxnCdcPull>[0];
  const base = PULLS[1] as Extract<StoreRequest, { type: 'txnCdcPull' }>;
  const bad: Partial<Extract<StoreRequest, { type: 'txnCdcPull' }>>[] = [
    { start: k('z'), end: k('a') },
    { start: k('m'), end: k('m') },
    { eventsMax: -1 },
    { eventsMax: 0 },
    { bytesMax: -5 },
    { waitMs: -1 },
    { waitMs: 1e9 },
    { fromTs: -1n },
    { cursor: { commitTs: 1n, key: k('a') } },
  ];
  it('refuses a reversed range, negative or zero limits, a bad ts or cursor with BadField', async () => {
    for (const b of bad) await expect(handleTxnCdcPull(env, { ...base, ...b }, {})).rejects.toSatisfy((e: unknown) => e instanceof StoreRequestError && e.kind === 'BadField');
  });
});

const GOLDEN_PULL = '2f01020103016101017a0063010064016d0a8020f403e907';
const GOLDEN_ANSWER = '200101010b0200016100070131010162000800080000';
