/**
 * The `MemoryDisk` fault model: slow writes land in order, a crash kills the engines opened
 * on the disk and loses (or lands, or tears) what was in flight, a power cut loses unsynced
 * writes but never one reported complete at `strict`; the default disk behaves as before.
 */
import { describe, expect, it } from 'vitest';
import { WriteBatch } from '../src/engine.ts';
import { StorageError } from '../src/errors.ts';
import { MemoryDisk, MemoryEngine, type DiskTimers } from '../src/memory-engine.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

/** Manual timers: `advance(ms)` fires what is due, in order. */
class ManualTimers implements DiskTimers {
  private now = 0;
  private readonly due: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    this.due.push({ at: this.now + ms, seq: this.seq++, fn });
    return undefined;
  }
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      this.due.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.due[0];
      if (!next || next.at > until) break;
      this.due.shift();
      this.now = next.at;
      next.fn();
      await Promise.resolve();
    }
    this.now = until;
    await new Promise((r) => setImmediate(r));
  }
}

/** A scripted chance source: returns the values in turn (then 0). */
function script(...values: number[]): () => number {
  return () => values.shift() ?? 0;
}

async function open(disk: MemoryDisk): Promise<MemoryEngine> {
  return MemoryEngine.open({ columnFamilies: ['d'], disk });
}

const put = (k: string, v: string): WriteBatch => new WriteBatch().put('d', enc(k), enc(v));

describe('MemoryDisk', () => {
  it('by default a write lands inside the call and survives any crash', async () => {
    const disk = new MemoryDisk();
    const e = await open(disk);
    const p = e.write(put('a', '1'), { durability: 'relaxed' });
    expect(dec(disk.tree('d').get(enc('a')))).toBe('1'); // before the promise resolves, as before
    await p;
    disk.crash({ kind: 'power', random: () => 0 });
    const e2 = await open(disk);
    expect(dec(await e2.get('d', enc('a')))).toBe('1');
  });

  it('slow writes land in issue order, after their delay', async () => {
    const timers = new ManualTimers();
    const delays = [30, 5];
    const disk = new MemoryDisk({ timers, writeDelayMs: () => delays.shift() ?? 0 });
    const e = await open(disk);
    const order: string[] = [];
    const a = e.write(put('k', 'first'), { durability: 'strict' }).then(() => order.push('a'));
    const b = e.write(put('k', 'second'), { durability: 'strict' }).then(() => order.push('b'));
    await timers.advance(10);
    expect(order).toEqual([]);
    expect(await e.get('d', enc('k'))).toBeUndefined();
    await timers.advance(30);
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(dec(await e.get('d', enc('k')))).toBe('second');
    expect(disk.stats.slowWrites).toBe(2);
  });

  it('a crash kills the old engine and loses the writes in flight (or lands a prefix of them whole)', async () => {
    const timers = new ManualTimers();
    const disk = new MemoryDisk({ timers, writeDelayMs: () => 10 });
    const e = await open(disk);
    const w1 = e.write(put('a', '1'), { durability: 'strict' });
    const w2 = e.write(put('b', '2'), { durability: 'strict' });
    // random 0.5 of 3 choices → the first write lands, the second is lost.
    const report = disk.crash({ kind: 'process', random: script(0.5) });
    expect(report).toMatchObject({ inFlightLanded: 1, inFlightLost: 1, unsyncedLost: 0 });
    await expect(w1).rejects.toBeInstanceOf(StorageError);
    await expect(w2).rejects.toBeInstanceOf(StorageError);
    await expect(e.get('d', enc('a'))).rejects.toThrow(/crashed/);
    await timers.advance(20); // the lost writes' timers fire: nothing happens
    const e2 = await open(disk);
    expect(dec(await e2.get('d', enc('a')))).toBe('1');
    expect(await e2.get('d', enc('b'))).toBeUndefined();
  });

  it('with tear, a prefix of the first unlanded batch reaches the disk', async () => {
    const timers = new ManualTimers();
    const disk = new MemoryDisk({ timers, writeDelayMs: () => 10 });
    const e = await open(disk);
    const batch = new WriteBatch().put('d', enc('x'), enc('1')).put('d', enc('y'), enc('2')).put('d', enc('z'), enc('3'));
    void e.write(batch, { durability: 'strict' }).catch(() => undefined);
    // 0 → no whole write lands; 0.6 → 1 + floor(0.6 * 2) = 2 ops land.
    const report = disk.crash({ kind: 'process', tear: true, random: script(0, 0.6) });
    expect(report.torn).toEqual({ opsLanded: 2, opsTotal: 3 });
    const e2 = await open(disk);
    expect([await e2.get('d', enc('x')), await e2.get('d', enc('y')), await e2.get('d', enc('z'))].map(dec)).toEqual(['1', '2', undefined]);
  });

  it('a power cut loses a suffix of the unsynced writes; a strict write syncs everything before it', async () => {
    const disk = new MemoryDisk({ trackUnsynced: true });
    const e = await open(disk);
    await e.write(put('a', 'r1'), { durability: 'relaxed' });
    await e.write(put('b', 's1'), { durability: 'strict' }); // syncs a=r1 too
    await e.write(put('a', 'r2'), { durability: 'relaxed' });
    await e.write(new WriteBatch().deleteRange('d', enc('a'), enc('c')), { durability: 'relaxed' });
    await e.write(put('c', 'r3'), { durability: 'relaxed' });
    expect(disk.unsyncedCount()).toBe(3);
    // keep floor(0.4 * 4) = 1 of the 3 unsynced writes: a=r2 stays, the range delete and c=r3 go.
    const report = disk.crash({ kind: 'power', random: script(0.4) });
    expect(report.unsyncedLost).toBe(2);
    const e2 = await open(disk);
    expect([await e2.get('d', enc('a')), await e2.get('d', enc('b')), await e2.get('d', enc('c'))].map(dec)).toEqual(['r2', 's1', undefined]);
  });

  it('a process crash keeps completed relaxed writes; a power cut never loses an acknowledged strict one', async () => {
    const disk = new MemoryDisk({ trackUnsynced: true });
    const e = await open(disk);
    await e.write(put('r', '1'), { durability: 'relaxed' });
    disk.crash({ kind: 'process', random: () => 0 });
    const e2 = await open(disk);
    expect(dec(await e2.get('d', enc('r')))).toBe('1');
    await e2.write(put('s', '1'), { durability: 'strict' });
    disk.crash({ kind: 'power', random: () => 0 });
    const e3 = await open(disk);
    expect(dec(await e3.get('d', enc('s')))).toBe('1');
    expect(dec(await e3.get('d', enc('r')))).toBe('1');
  });

  it('in unsynced mode a power cut can lose even a strict write (the injected lying disk)', async () => {
    const disk = new MemoryDisk({ trackUnsynced: true });
    disk.unsynced = true;
    const e = await open(disk);
    await e.write(put('s', '1'), { durability: 'strict' });
    expect(disk.crash({ kind: 'power', random: () => 0 }).unsyncedLost).toBe(1);
    expect(await (await open(disk)).get('d', enc('s'))).toBeUndefined();
  });

  it('close waits for the engine\'s writes in flight', async () => {
    const timers = new ManualTimers();
    const disk = new MemoryDisk({ timers, writeDelayMs: () => 10 });
    const e = await open(disk);
    void e.write(put('a', '1'), { durability: 'strict' });
    let closed = false;
    const c = e.close().then(() => (closed = true));
    await timers.advance(5);
    expect(closed).toBe(false);
    await timers.advance(10);
    await c;
    expect(dec(await (await open(disk)).get('d', enc('a')))).toBe('1');
  });
});
