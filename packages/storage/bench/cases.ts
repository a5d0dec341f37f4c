/**
 * Benchmark cases run inside a Chromium Worker: raw `idb` puts (one transaction per put, and
 * batched), `IdbEngine` batches of the same sizes, and `RaftLogStore` group-committed appends,
 * each at `relaxed` and `strict` durability, on 100-byte values.
 */
import { openDB, unwrap, type IDBPDatabase } from 'idb';
import { WriteBatch, type Durability } from '../src/engine.ts';
import { IdbEngine } from '../src/idb-engine.ts';
import { RaftLogStore } from '../src/raft/raft-log-store.ts';
import type { Entry } from '@peerkv/raft';

/** Bytes of every value (and every Raft entry payload). */
export const VALUE_BYTES = 100;

/** One measured run. */
export interface Measurement {
  name: string;
  durability: Durability;
  /** Puts (or entries) written. */
  ops: number;
  /** Value bytes written. */
  bytes: number;
  ms: number;
}

/** The clock of the benchmark (performance.now in the Worker). */
export type Clock = () => number;

let keySeq = 0;
/** 16-byte keys: an 8-byte prefix, then a big-endian sequence number. */
function nextKeys(count: number): Uint8Array<ArrayBuffer>[] {
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < count; i++) {
    const k = new Uint8Array(16);
    const v = new DataView(k.buffer);
    v.setUint32(0, 0x70656572); // 'peer'
    v.setUint32(12, ++keySeq);
    v.setUint32(8, Math.floor(keySeq / 0x1_0000_0000));
    out.push(k);
  }
  return out;
}

function valueOf(i: number): Uint8Array {
  const v = new Uint8Array(VALUE_BYTES);
  for (let j = 0; j < VALUE_BYTES; j++) v[j] = (i + j) & 0xff;
  return v;
}

const VALUES = Array.from({ length: 1000 }, (_, i) => valueOf(i));

/** A raw `idb` database with one object store `kv`. */
export function openRaw(name: string): Promise<IDBPDatabase> {
  return openDB(name, 1, { upgrade: (db) => void db.createObjectStore('kv') });
}

/** Raw idb: one readwrite transaction per put. */
export async function rawSingle(db: IDBPDatabase, count: number, durability: Durability, now: Clock): Promise<Measurement> {
  const keys = nextKeys(count);
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const tx = db.transaction('kv', 'readwrite', { durability });
    void tx.store.put(VALUES[i % VALUES.length], keys[i]);
    await tx.done;
  }
  return { name: 'raw idb, 1 put/tx', durability, ops: count, bytes: count * VALUE_BYTES, ms: now() - t0 };
}

/** Raw idb: `batchSize` puts per transaction, `batches` transactions. */
export async function rawBatched(db: IDBPDatabase, batchSize: number, batches: number, durability: Durability, now: Clock): Promise<Measurement> {
  const keys = nextKeys(batchSize * batches);
  const t0 = now();
  for (let b = 0; b < batches; b++) {
    const tx = db.transaction('kv', 'readwrite', { durability });
    for (let i = 0; i < batchSize; i++) void tx.store.put(VALUES[i % VALUES.length], keys[b * batchSize + i]);
    await tx.done;
  }
  const ops = batchSize * batches;
  return { name: `raw idb, ${batchSize} puts/tx`, durability, ops, bytes: ops * VALUE_BYTES, ms: now() - t0 };
}

/**
 * Native IndexedDB (no `idb` promise per request): the floor under both, for reference.
 * Same transactions as `rawBatched`.
 */
export async function nativeBatched(db: IDBPDatabase, batchSize: number, batches: number, durability: Durability, now: Clock): Promise<Measurement> {
  const keys = nextKeys(batchSize * batches);
  const native = unwrap(db);
  const t0 = now();
  for (let b = 0; b < batches; b++) {
    const tx = native.transaction('kv', 'readwrite', { durability });
    const store = tx.objectStore('kv');
    for (let i = 0; i < batchSize; i++) store.put(VALUES[i % VALUES.length], keys[b * batchSize + i]);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(tx.error);
    });
  }
  const ops = batchSize * batches;
  return { name: `native IndexedDB, ${batchSize} puts/tx`, durability, ops, bytes: ops * VALUE_BYTES, ms: now() - t0 };
}

/** IdbEngine: `batches` WriteBatches of `batchSize` puts. */
export async function engineBatched(engine: IdbEngine, batchSize: number, batches: number, durability: Durability, now: Clock): Promise<Measurement> {
  const keys = nextKeys(batchSize * batches);
  const t0 = now();
  for (let b = 0; b < batches; b++) {
    const wb = new WriteBatch();
    for (let i = 0; i < batchSize; i++) wb.put('kv', keys[b * batchSize + i], VALUES[i % VALUES.length]);
    await engine.write(wb, { durability });
  }
  const ops = batchSize * batches;
  return { name: `IdbEngine, ${batchSize} puts/batch`, durability, ops, bytes: ops * VALUE_BYTES, ms: now() - t0 };
}

/**
 * RaftLogStore: each write group-commits `entriesPerRegion` entries and a hard state for
 * each of `regions` regions (one Ready round of a store).
 */
export async function raftAppends(
  store: RaftLogStore,
  regionIds: number[],
  entriesPerRegion: number,
  writes: number,
  durability: Durability,
  now: Clock,
): Promise<Measurement> {
  for (const id of regionIds) await store.open(id);
  const t0 = now();
  for (let w = 0; w < writes; w++) {
    const b = store.batch();
    for (const id of regionIds) {
      const log = store.region(id)!;
      const first = log.lastIndex() + 1;
      const ents: Entry[] = [];
      for (let i = 0; i < entriesPerRegion; i++) ents.push({ index: first + i, term: 1, type: 'normal', data: VALUES[i % VALUES.length] });
      b.stageAppend(id, ents).stageHardState(id, { term: 1, vote: 1, commit: first - 1 });
    }
    await store.write(b, { durability });
  }
  const ops = regionIds.length * entriesPerRegion * writes;
  return { name: `RaftLogStore, ${regionIds.length}×${entriesPerRegion} entries/write`, durability, ops, bytes: ops * VALUE_BYTES, ms: now() - t0 };
}

/** Opens an `IdbEngine` with the `kv` and `raft` column families. */
export function openEngine(name: string): Promise<IdbEngine> {
  return IdbEngine.open({ name, columnFamilies: ['kv', 'raft'] });
}
