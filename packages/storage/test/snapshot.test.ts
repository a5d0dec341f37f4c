/**
 * Engine-specific snapshot behaviour beyond the conformance cases: a memory snapshot dies
 * with its crashed disk and never holds a write still in flight on a slow disk; an
 * IndexedDB snapshot pins pre-images only while open, merges them across live pages, and is
 * voided past `snapshotBytesMax`; each engine takes its own `snapshotsOpenMax`.
 */
import 'fake-indexeddb/auto';
import { IDBFactory, IDBKeyRange as FakeKeyRange } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WriteBatch, type KvSnapshot } from '../src/engine.ts';
import { IdbEngine } from '../src/idb-engine.ts';
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
  it('pin nothing while none is open, and let go of pre-images on release', async () => {
    const e = await openIdb();
    await e.write(new WriteBatch().put('default', keyOf(1), enc('a')), relaxed);
    expect(e.snapshotPinnedBytes).toBe(0);
    const older = await e.snapshot();
    await e.write(new WriteBatch().put('default', keyOf(1), enc('b')), relaxed);
    const newer = await e.snapshot();
    await e.write(new WriteBatch().put('default', keyOf(1), enc('c')).deleteRange('lock', keyOf(0), keyOf(9)), relaxed);
    expect(e.snapshotPinnedBytes).toBeGreaterThan(0);
    expect(dec(await older.get('default', keyOf(1)))).toBe('a');
    expect(dec(await newer.get('default', keyOf(1)))).toBe('b');
    await older.release();
    expect(dec(await newer.get('default', keyOf(1)))).toBe('b');
    await newer.release();
    expect(e.snapshotPinnedBytes).toBe(0);
    await e.write(new WriteBatch().put('default', keyOf(1), enc('d')), relaxed);
    expect(e.snapshotPinnedBytes).toBe(0);
    await e.close();
  });

  it('a large range delete after the snapshot: scans across many live pages, both directions', async () => {
    const e = await openIdb();
    const n = 700;
    const wb = new WriteBatch();
    for (let i = 0; i < n; i++) wb.put('default', keyOf(i * 2), enc(`v${i}`));
    await e.write(wb, relaxed);
    const snap = await e.snapshot();
    const later = new WriteBatch().deleteRange('default', keyOf(100), keyOf(1000));
    for (let i = 0; i < n; i++) later.put('default', keyOf(i * 2 + 1), enc('odd'));
    await e.write(later, relaxed);
    const even = range(0, n).map((i) => i * 2);
    expect(await keysOf(snap, 'default', { pageSize: 64 })).toEqual(even);
    expect(await keysOf(snap, 'default', { reverse: true, pageSize: 50 })).toEqual([...even].reverse());
    expect(await keysOf(snap, 'default', { start: keyOf(95), limit: 5, pageSize: 2 })).toEqual([96, 98, 100, 102, 104]);
    expect(dec(await snap.get('default', keyOf(500)))).toBe('v250');
    await e.close();
  });

  it('past snapshotBytesMax every open snapshot fails SnapshotTooLarge; writes and new snapshots go on', async () => {
    const e = await openIdb({ snapshotBytesMax: 1000, snapshotsOpenMax: 2 });
    const wb = new WriteBatch();
    for (let i = 0; i < 20; i++) wb.put('default', keyOf(i), new Uint8Array(100));
    await e.write(wb, relaxed);
    const snap = await e.snapshot();
    await e.write(new WriteBatch().deleteRange('default', keyOf(0), keyOf(15)), relaxed);
    await expect(snap.get('default', keyOf(1))).rejects.toMatchObject({ name: 'StorageError', kind: 'SnapshotTooLarge' });
    expect(e.snapshotPinnedBytes).toBe(0);
    expect(await keysOf(e, 'default')).toEqual(range(15, 20));
    const next = await e.snapshot(); // the void one still holds its slot until released
    await expect(e.snapshot()).rejects.toMatchObject({ kind: 'TooManySnapshots' });
    await snap.release();
    expect(await keysOf(next, 'default')).toEqual(range(15, 20));
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
