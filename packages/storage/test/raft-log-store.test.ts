/**
 * `RaftLogStore`: equivalence with raft's `MemoryStorage` across reopens on every engine,
 * many regions interleaved, conflict truncation, group commit, failed writes, corruption and
 * the on-demand fetch of entries beyond the cache.
 */
import 'fake-indexeddb/auto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftStorageError, type Entry } from '@peerkv/raft';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteBatch, type KvEngine, type WriteOptions } from '../src/engine.ts';
import { StorageCorruption, StorageError } from '../src/errors.ts';
import { IdbEngine } from '../src/idb-engine.ts';
import { LevelEngine } from '../src/level-engine.ts';
import { MemoryDisk, MemoryEngine } from '../src/memory-engine.ts';
import { entryKey, stateKey } from '../src/raft/keys.ts';
import { RaftLogStore } from '../src/raft/raft-log-store.ts';
import { entriesEventually, runRaftModel, type OpenEngine } from './raft-model.ts';

const relaxed: WriteOptions = { durability: 'relaxed' };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function memoryOpener(disk = new MemoryDisk()): OpenEngine {
  return () => MemoryEngine.open({ columnFamilies: ['raft', 'default'], disk });
}

function ents(from: number, to: number, term: number, tag = 0): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 'normal', data: new Uint8Array([tag, i & 0xff]) });
  return out;
}

/** Counts engine writes, and fails them on demand. */
class SpyEngine {
  writes = 0;
  failNext = false;
  constructor(readonly inner: KvEngine) {}
  asEngine(): KvEngine {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) => {
        if (prop === 'write') {
          return async (b: WriteBatch, o: WriteOptions) => {
            this.writes++;
            if (this.failNext) {
              this.failNext = false;
              throw new StorageError('QuotaExceeded', 'simulated');
            }
            return target.write(b, o);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }
}

describe('RaftLogStore matches MemoryStorage', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`memory engine, seed ${seed}, small cache`, async () => {
      await runRaftModel(memoryOpener(), { seed, rounds: 150, regionIds: [1, 2, 3], reopenEvery: 20, entryCacheBytesMax: seed % 2 ? 120 : 1 << 20 });
    });
  }

  it('LevelEngine, across reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerkv-raft-'));
    dirs.push(dir);
    const open: OpenEngine = () => LevelEngine.open({ location: join(dir, 'db'), columnFamilies: ['raft'] });
    await runRaftModel(open, { seed: 11, rounds: 80, regionIds: [7, 8], reopenEvery: 15, entryCacheBytesMax: 150 });
  });

  it('IdbEngine (fake-indexeddb), across reopen', async () => {
    const open: OpenEngine = () => IdbEngine.open({ name: 'raft-model', columnFamilies: ['raft'] });
    await runRaftModel(open, { seed: 12, rounds: 80, regionIds: [7, 2 ** 40], reopenEvery: 15, entryCacheBytesMax: 150 });
  });
});

describe('RaftLogStore behaviour', () => {
  it('truncates a conflicting suffix, in memory and on disk', async () => {
    const open = memoryOpener();
    let store = new RaftLogStore({ engine: await open() });
    const log = await store.open(1);
    await store.write(store.batch().stageAppend(1, ents(1, 10, 1)), relaxed);
    await store.write(store.batch().stageAppend(1, ents(5, 6, 2, 9)), relaxed);
    expect(log.lastIndex()).toBe(6);
    expect(log.term(5)).toBe(2);
    expect(log.term(4)).toBe(1);
    expect(() => log.term(7)).toThrow(RaftStorageError);
    store = new RaftLogStore({ engine: await open() });
    const again = await store.open(1);
    expect(again.lastIndex()).toBe(6);
    expect(again.entries(1, 7, Infinity).map((e) => [e.index, e.term, e.data[0]])).toEqual([
      [1, 1, 0], [2, 1, 0], [3, 1, 0], [4, 1, 0], [5, 2, 9], [6, 2, 9],
    ]);
  });

  it('group commit: many regions, many rounds of entries, one engine write', async () => {
    const spy = new SpyEngine(await memoryOpener()());
    const store = new RaftLogStore({ engine: spy.asEngine() });
    const ids = [1, 2, 3, 4, 5];
    for (const id of ids) await store.open(id);
    const b = store.batch();
    for (const id of ids) {
      b.stageAppend(id, ents(1, 3, 1, id));
      b.stageAppend(id, ents(4, 5, 1, id));
      b.stageHardState(id, { term: 1, vote: id, commit: 2 });
    }
    b.kv.put('default', new Uint8Array([1]), new Uint8Array([2])); // the store's own data, same write
    await store.write(b, { durability: 'strict' });
    expect(spy.writes).toBe(1);
    for (const id of ids) {
      const log = store.region(id)!;
      expect(log.lastIndex()).toBe(5);
      expect(log.initialState().hardState).toEqual({ term: 1, vote: id, commit: 2 });
      expect(log.entries(1, 6, Infinity).every((e) => e.data[0] === id)).toBe(true);
    }
    expect(await spy.inner.get('default', new Uint8Array([1]))).toEqual(new Uint8Array([2]));
  });

  it('a failed write changes nothing in memory and releases the regions', async () => {
    const spy = new SpyEngine(await memoryOpener()());
    const store = new RaftLogStore({ engine: spy.asEngine() });
    const log = await store.open(1);
    await store.write(store.batch().stageAppend(1, ents(1, 3, 1)), relaxed);
    spy.failNext = true;
    const b = store.batch().stageAppend(1, ents(2, 6, 2)).stageHardState(1, { term: 2, vote: 1, commit: 0 }).stageCompact(1, 1);
    await expect(store.write(b, relaxed)).rejects.toMatchObject({ kind: 'QuotaExceeded' });
    expect([log.firstIndex(), log.lastIndex(), log.term(3)]).toEqual([1, 3, 1]);
    expect(log.hardState()).toEqual({ term: 0, vote: 0, commit: 0 });
    await store.write(store.batch().stageAppend(1, ents(4, 4, 1)), relaxed);
    expect(log.lastIndex()).toBe(4);
  });

  it('one uncommitted batch per region at a time', async () => {
    const store = new RaftLogStore({ engine: await memoryOpener()() });
    await store.open(1);
    const first = store.batch().stageAppend(1, ents(1, 1, 1));
    expect(() => store.batch().stageHardState(1, { term: 1, vote: 0, commit: 0 })).toThrow(StorageError);
    expect(() => store.batch().stageHardState(9, { term: 1, vote: 0, commit: 0 })).toThrow(/not open/);
    first.discard();
    store.batch().stageHardState(1, { term: 1, vote: 0, commit: 0 });
  });

  it('entries beyond the cache: LogTemporarilyUnavailable, then a callback, then served', async () => {
    const open = memoryOpener();
    const fetched: number[] = [];
    const store = new RaftLogStore({ engine: await open(), entryCacheBytesMax: 200, fetchBytesMax: 1000, onEntriesFetched: (id) => fetched.push(id) });
    const log = await store.open(3);
    await store.write(store.batch().stageAppend(3, ents(1, 100, 1)), relaxed);
    expect(log.cachedBytes).toBeLessThanOrEqual(200);
    expect(log.entries(99, 101, Infinity).map((e) => e.index)).toEqual([99, 100]);
    expect(() => log.entries(1, 101, Infinity)).toThrow(expect.objectContaining({ kind: 'LogTemporarilyUnavailable' }));
    await log.whenFetched();
    expect(fetched).toEqual([3]);
    const got = log.entries(1, 101, Infinity);
    expect(got[0].index).toBe(1);
    expect(got.map((e) => e.index)).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
    expect((await entriesEventually(log, 1, 101, Infinity)).length).toBeGreaterThan(0);
    expect(log.term(1)).toBe(1); // terms never need a fetch
  });

  it('lists regions and destroys one', async () => {
    const store = new RaftLogStore({ engine: await memoryOpener()() });
    for (const id of [5, 2, 2 ** 33]) await store.open(id);
    const b = store.batch();
    for (const id of [5, 2, 2 ** 33]) b.stageAppend(id, ents(1, 2, 1)).stageHardState(id, { term: 1, vote: 0, commit: 1 });
    await store.write(b, relaxed);
    expect(await store.listRegions()).toEqual([2, 5, 2 ** 33]);
    await store.write(store.batch().stageDestroy(5), relaxed);
    expect(store.region(5)).toBeUndefined();
    expect(await store.listRegions()).toEqual([2, 2 ** 33]);
    const fresh = await store.open(5);
    expect([fresh.firstIndex(), fresh.lastIndex()]).toEqual([1, 0]);
  });
});

describe('RaftLogStore integrity', () => {
  async function storeWithLog(disk: MemoryDisk): Promise<void> {
    const store = new RaftLogStore({ engine: await memoryOpener(disk)() });
    await store.open(4);
    await store.write(store.batch().stageAppend(4, ents(1, 20, 1)).stageHardState(4, { term: 1, vote: 2, commit: 5 }), relaxed);
  }

  async function flipByte(disk: MemoryDisk, key: Uint8Array, at: number): Promise<void> {
    const engine = await memoryOpener(disk)();
    const value = (await engine.get('raft', key))!;
    value[at] ^= 0x40;
    await engine.write(new WriteBatch().put('raft', key, value), relaxed);
  }

  it('a flipped byte in a stored entry raises StorageCorruption naming region and index', async () => {
    for (const at of [0, 4, 7, 15]) {
      const disk = new MemoryDisk();
      await storeWithLog(disk);
      await flipByte(disk, entryKey(4, 13), at);
      const store = new RaftLogStore({ engine: await memoryOpener(disk)() });
      const err = await store.open(4).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageCorruption);
      expect(err).toMatchObject({ regionId: 4, index: 13, record: 'entry' });
    }
  });

  it('a flipped byte in the hard state is detected', async () => {
    const disk = new MemoryDisk();
    await storeWithLog(disk);
    await flipByte(disk, stateKey(4, 'hardState'), 10);
    const store = new RaftLogStore({ engine: await memoryOpener(disk)() });
    await expect(store.open(4)).rejects.toMatchObject({ name: 'StorageCorruption', record: 'hardState', regionId: 4 });
  });

  it('an entry moved under another index and a hole in the log are detected', async () => {
    const disk = new MemoryDisk();
    await storeWithLog(disk);
    const engine = await memoryOpener(disk)();
    const v = (await engine.get('raft', entryKey(4, 3)))!;
    await engine.write(new WriteBatch().put('raft', entryKey(4, 8), v), relaxed);
    await expect(new RaftLogStore({ engine }).open(4)).rejects.toMatchObject({ name: 'StorageCorruption', index: 8 });
    await engine.write(new WriteBatch().delete('raft', entryKey(4, 8)), relaxed);
    await expect(new RaftLogStore({ engine }).open(4)).rejects.toMatchObject({ name: 'StorageCorruption', index: 8 });
  });

  it('corruption found by an on-demand fetch is raised by the retried read', async () => {
    const disk = new MemoryDisk();
    const engine = await memoryOpener(disk)();
    const store = new RaftLogStore({ engine, entryCacheBytesMax: 100 });
    const log = await store.open(4);
    await store.write(store.batch().stageAppend(4, ents(1, 40, 1)), relaxed);
    await flipByte(disk, entryKey(4, 2), 6);
    expect(() => log.entries(1, 5, Infinity)).toThrow(expect.objectContaining({ kind: 'LogTemporarilyUnavailable' }));
    await log.whenFetched();
    expect(() => log.entries(1, 5, Infinity)).toThrow(StorageCorruption);
  });
});
