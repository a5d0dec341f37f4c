/**
 * The newest-commit-ts index (`txn/write-ts-index.ts`): its bound is at or above every commit
 * ts of a key in the live engine (what the engine held at open, found by one walk; what was
 * written since, noted as issued; what it forgot, in the floor), and a prewrite over a reader
 * with that bound refuses exactly what the walk of `write` refuses, without the walk when the
 * bound is below its read ts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEngine, WriteBatch, type KvEngine } from '@peerkv/storage';
import { CF_WRITE, MvccReader, TXN_CFS, composeTs, encodeKey, prewrite, putWrite, type Mutation, type TxnOp, type TxnProps } from '@peerkv/txn';
import { WRITE_TS_BATCH_KEYS_MAX, WriteTsIndex, WriteTsIndexedEngine } from '../src/txn/write-ts-index.ts';
import { until } from './helpers.ts';

const enc = new TextEncoder();
const k = (s: string): Uint8Array => enc.encode(s);
const ts = (ms: number): bigint => composeTs(ms, 0);

function batch(ops: TxnOp[]): WriteBatch {
  const b = new WriteBatch();
  for (const op of ops) {
    if (op.type === 'put') b.put(op.cf, op.key, op.value);
    else b.delete(op.cf, op.key);
  }
  return b;
}

const commitOf = (key: string, startMs: number, commitMs: number): TxnOp => putWrite(k(key), ts(commitMs), { kind: 'put', startTs: ts(startMs), hasOverlappedRollback: false, shortValue: k('v') });

/** An engine with `before` written before the index wrapped it. */
async function engineWith(before: TxnOp[]): Promise<MemoryEngine> {
  const engine = await MemoryEngine.open({ columnFamilies: [...TXN_CFS] });
  if (before.length > 0) await engine.write(batch(before), { durability: 'strict' });
  return engine;
}

/** The wrapped engine once its opening walk is done. */
async function opened(index: WriteTsIndex, engine: KvEngine): Promise<WriteTsIndexedEngine> {
  const tracked = index.track(engine);
  expect(tracked.bound(encodeKey(k('any')))).toBeUndefined();
  await until('the opening walk', () => tracked.bound(encodeKey(k('any'))) !== undefined);
  return tracked;
}

/** Counts the `write` scans of an engine. */
class ScanCounting extends WriteTsIndexedEngine {
  writeScans = 0;
  override scan(cf: string, o?: Parameters<KvEngine['scan']>[1]): ReturnType<KvEngine['scan']> {
    if (cf === CF_WRITE) this.writeScans++;
    return super.scan(cf, o);
  }
}

const onePc = (startMs: number, commitMs: number, readMs?: number): TxnProps => ({
  primary: k('a'),
  startTs: ts(startMs),
  lockTtlMs: 3000,
  txnSize: 1,
  forUpdateTs: 0n,
  ...(readMs !== undefined ? { readTs: ts(readMs) } : {}),
  mode: { kind: 'onePc', commitTs: ts(commitMs) },
});
const putA: Mutation[] = [{ op: 'put', key: k('a'), value: k('x') }];

describe('WriteTsIndex', () => {
  it('answers nothing until its walk of write ends; then the newest commit ts the engine held, for any key', async () => {
    const index = new WriteTsIndex();
    const tracked = await opened(index, await engineWith([commitOf('a', 100, 110), commitOf('b', 300, 320), commitOf('b', 200, 210)]));
    expect(tracked.bound(encodeKey(k('a')))).toBe(ts(320));
    expect(tracked.bound(encodeKey(k('never')))).toBe(ts(320));
    expect(index.stats.unknown).toBeGreaterThan(0);
  });

  it('a key written since: the newest ts its batches put; other keys keep the floor; lock and default puts and deletes change nothing', async () => {
    const index = new WriteTsIndex();
    const tracked = await opened(index, await engineWith([commitOf('old', 100, 110)]));
    await tracked.write(batch([commitOf('a', 500, 510)]), { durability: 'strict' });
    await tracked.write(batch([commitOf('a', 400, 420)]), { durability: 'strict' });
    const b = batch([]).put('lock', encodeKey(k('c')), k('lock')).put('default', encodeKey(k('c')), k('long')).delete(CF_WRITE, putWrite(k('a'), ts(510), { kind: 'rollback', startTs: ts(510), hasOverlappedRollback: false }).key);
    await tracked.write(b, { durability: 'strict' });
    expect(tracked.bound(encodeKey(k('a')))).toBe(ts(510));
    expect(tracked.bound(encodeKey(k('c')))).toBe(ts(110));
    expect(tracked.bound(encodeKey(k('ab')))).toBe(ts(110));
  });

  it('a key written during the walk is covered whether the walk saw it or not', async () => {
    const index = new WriteTsIndex();
    const tracked = index.track(await engineWith([commitOf('old', 100, 110)]));
    expect(tracked.bound(encodeKey(k('a')))).toBeUndefined();
    await tracked.write(batch([commitOf('a', 700, 710)]), { durability: 'strict' });
    await until('the opening walk', () => tracked.bound(encodeKey(k('x'))) !== undefined);
    expect(tracked.bound(encodeKey(k('a')))).toBe(ts(710));
  });

  it('keys beyond its limit are forgotten least recently written first, into the floor; a bulk batch goes to the floor whole', async () => {
    const index = new WriteTsIndex(2);
    const tracked = await opened(index, await engineWith([]));
    for (const [key, at] of [['a', 900], ['b', 200], ['c', 300]] as const) await tracked.write(batch([commitOf(key, at - 5, at)]), { durability: 'strict' });
    expect(index.stats.evicted).toBe(1);
    // `a` (the oldest written) went, its ts into the floor, which now bounds every key it does not hold.
    expect(tracked.bound(encodeKey(k('a')))).toBe(ts(900));
    expect(tracked.bound(encodeKey(k('b')))).toBe(ts(900));
    const bulk = Array.from({ length: WRITE_TS_BATCH_KEYS_MAX + 1 }, (_, i) => commitOf(`s${i}`, 1000 + i, 2000 + i));
    await tracked.write(batch(bulk), { durability: 'strict' });
    expect(index.stats.bulkBatches).toBe(1);
    expect(tracked.bound(encodeKey(k('zzz')))).toBe(ts(2000 + WRITE_TS_BATCH_KEYS_MAX));
  });

  it('the wrapper forwards getSync where the engine has it', async () => {
    const engine = await engineWith([]);
    const tracked = new WriteTsIndex().track(engine);
    await tracked.write(batch([]).put('lock', k('l'), k('v')), { durability: 'strict' });
    expect(tracked.getSync?.('lock', k('l'))).toEqual(k('v'));
  });

  it('a 1PC prewrite with the bound: the same conflicts as the walk (held at open, written since, forgotten), and no walk of write when the bound is below its read ts', async () => {
    const index = new WriteTsIndex(1);
    const engine = await engineWith([commitOf('a', 100, 110)]);
    const tracked = new ScanCounting(engine, index);
    await until('the opening walk', () => tracked.bound(encodeKey(k('x'))) !== undefined);
    const reader = (): MvccReader => new MvccReader(tracked, (key) => tracked.bound(key));
    const kinds = async (p: TxnProps): Promise<string[]> => {
      const r = await prewrite(reader(), p, putA);
      return r.ok ? [] : r.errors.map((e) => e.kind);
    };
    // Held at open: a transaction that started before it conflicts; one after it writes unread.
    expect(await kinds(onePc(105, 120))).toEqual(['WriteConflict']);
    const scans = tracked.writeScans;
    expect(await kinds(onePc(115, 120))).toEqual([]);
    expect(tracked.writeScans).toBe(scans);
    // Written since, then forgotten (the limit is one key): the floor still refuses it.
    await tracked.write(batch([commitOf('a', 150, 160)]), { durability: 'strict' });
    await tracked.write(batch([commitOf('z', 170, 180)]), { durability: 'strict' });
    expect(await kinds(onePc(155, 190))).toEqual(['WriteConflict']);
    // A queued transaction's read ts below the commit: the bound is not below it, the walk decides.
    expect(await kinds(onePc(200, 210, 158))).toEqual(['WriteConflict']);
    expect(await kinds(onePc(200, 210, 185))).toEqual([]);
  });
});
