/**
 * Engine-specific snapshot behaviour beyond the conformance cases: a memory snapshot dies
 * with its crashed disk and never holds a write still in flight on a slow disk; the
 * IndexedDB copy crosses request pages and stops at
 * `snapshotBytesMax`; each engine takes its own `snapshotsOpenMax`.
 */
import 'fake-indexeddb/auto';
import { IDBFactory, IDBKeyRange as FakeKeyRange } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WriteBatch, type KvSnapshot } from '../src/engine.ts';
import { IDB_SNAPSHOT_PAGE_RECORDS, IdbEngine } from '../src/idb-engine.ts';
import { LevelEngine } from '../src/level-engine.ts';
import { MemoryDisk, MemoryEngine, type DiskTimers } from '../src/memory-engine.ts';
import { keyOf, keysOf, range } from './conformance/helpers.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
const relaxed = { durability: 'relaxed' } as const;
const strict = { durability: 'strict' } as const;

/** Timers fired by hand. */
class ManualTimers implements DiskTimers {
  private readonly due: (() => void)[] = [];
  setTimeout(fn: () => void): unknown {
    this.due.push(fn);
    return undefined;
  }
  fireAll(): void {
    for (const fn of this.due.splice(0)) fn();
  }
}

describe('MemoryEngine snapshots', () => {
  it('a crash kills the snapshot with the engine: both fail Closed', async () => {
    const disk = new MemoryDisk();
    const e = await MemoryEngine.open({ columnFamilies: ['default', 'lock'], disk });
    await e.write(new WriteBatch().put('default', enc('k'), enc('v')), strict);
    const snap = await e.snapshot();
    disk.crash({ kind: 'process', random: () => 0 });
    await expect(snap.get('default', enc('k'))).rejects.toMatchObject({ name: 'StorageError', kind: 'Closed' });
    await expect(e.get('default', enc('k'))).rejects.toMatchObject({ name: 'StorageError', kind: 'Closed' });
    await expect(e.snapshot()).rejects.toMatchObject({ kind: 'Closed' });
    await snap.release();
    const restarted = await MemoryEngine.open({ columnFamilies: ['default', 'lock'], disk });
    const fresh = await restarted.snapshot();
    expect(dec(await fresh.get('default', enc('k')))).toBe('v');
    await restarted.close();
  });

  it('a write in flight on a slow disk is not in a snapshot taken before it lands', async () => {
    const timers = new ManualTimers();
    const disk = new MemoryDisk({ writeDelayMs: () => 5, timers });
    const e = await MemoryEngine.open({ columnFamilies: ['default'], disk });
    const first = e.write(new WriteBatch().put('default', enc('a'), enc('1')), relaxed);
    const before = await e.snapshot();
    timers.fireAll();
    await first;
    const after = await e.snapshot();
    expect(await before.get('default', enc('a'))).toBeUndefined();
    expect(dec(await after.get('default', enc('a')))).toBe('1');
    await e.close();
  });

  it('takes its own snapshotsOpenMax', async () => {
    const e = await MemoryEngine.open({ columnFamilies: ['default'], snapshotsOpenMax: 2 });
    const open: KvSnapshot[] = [await e.snapshot(), await e.snapshot()];
    await expect(e.snapshot()).rejects.toMatchObject({ kind: 'TooManySnapshots' });
    await open[1].release();
    open.push(await e.snapshot());
    await e.close();
    await expect(open[2].get('default', enc('x'))).rejects.toMatchObject({ kind: 'Closed' });
  });
});

let idbCount = 0;
const openIdb = (o: Partial<Parameters<typeof IdbEngine.open>[0]> = {}) =>
  IdbEngine.open({ name: `snapshot-test-${++idbCount}`, columnFamilies: ['default', 'lock'], indexedDB: new IDBFactory(), keyRange: FakeKeyRange, ...o });

describe('IdbEngine snapshots', () => {
  it('copies more records than one request page, in order, in both column families', async () => {
    const e = await openIdb();
    const n = IDB_SNAPSHOT_PAGE_RECORDS * 2 + 7;
    const wb = new WriteBatch();
    for (let i = 0; i < n; i++) wb.put('default', keyOf(i), enc(`v${i}`)).put('lock', keyOf(i), enc(`l${i}`));
    await e.write(wb, relaxed);
    const snap = await e.snapshot();
    await e.write(new WriteBatch().deleteRange('default', keyOf(0), keyOf(n)).deleteRange('lock', keyOf(0), keyOf(n)), relaxed);
    expect(await keysOf(snap, 'default')).toEqual(range(0, n));
    expect(await keysOf(snap, 'lock', { reverse: true, limit: 3 })).toEqual([n - 1, n - 2, n - 3]);
    expect(dec(await snap.get('lock', keyOf(IDB_SNAPSHOT_PAGE_RECORDS)))).toBe(`l${IDB_SNAPSHOT_PAGE_RECORDS}`);
    await e.close();
  });

  it('fails SnapshotTooLarge past snapshotBytesMax, frees its slot, and writes go on', async () => {
    const e = await openIdb({ snapshotBytesMax: 1000, snapshotsOpenMax: 1 });
    const wb = new WriteBatch();
    for (let i = 0; i < 20; i++) wb.put('default', keyOf(i), new Uint8Array(100));
    await e.write(wb, relaxed);
    await expect(e.snapshot()).rejects.toMatchObject({ name: 'StorageError', kind: 'SnapshotTooLarge' });
    await e.write(new WriteBatch().deleteRange('default', keyOf(0), keyOf(15)), relaxed);
    const snap = await e.snapshot(); // the failed one gave its slot back
    expect(await keysOf(snap, 'default')).toEqual(range(15, 20));
    expect(await snap.approximateSize('default', {})).toBe(5 * (4 + 100));
    await expect(e.snapshot()).rejects.toMatchObject({ kind: 'TooManySnapshots' });
    await e.close();
  });
});

describe('LevelEngine snapshots', () => {
  it('takes its own snapshotsOpenMax and releases open snapshots on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerkv-level-snap-'));
    try {
      const e = await LevelEngine.open({ location: join(dir, 'db'), columnFamilies: ['default'], snapshotsOpenMax: 1 });
      await e.write(new WriteBatch().put('default', enc('a'), enc('1')), strict);
      const snap = await e.snapshot();
      await expect(e.snapshot()).rejects.toMatchObject({ kind: 'TooManySnapshots' });
      await e.write(new WriteBatch().delete('default', enc('a')), strict);
      expect(dec(await snap.get('default', enc('a')))).toBe('1');
      await e.close(); // would hang if an open LevelDB snapshot kept the database from closing
      await expect(snap.get('default', enc('a'))).rejects.toMatchObject({ kind: 'Closed' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
