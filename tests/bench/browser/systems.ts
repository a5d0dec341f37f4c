/**
 * Browser side of `npm run bench:browser`: every system behind one small key-value face
 * (`KvSystem`), so the workloads (`workload.ts`) run the same calls on each. Keys are ASCII
 * strings, values 100-byte `Uint8Array`s (RxDB, a JSON store, gets them as a 100-character
 * string). Each adapter uses its library's ordinary calls and settings; only the raw `idb` rows
 * and "Dexie, strict" name a durability, so the others run at Chromium's default, which behaves
 * like `relaxed`. PeerKV stores write `strict`.
 */
import { openDB } from 'idb';
import Dexie from 'dexie';
import { createRxDatabase, type RxCollection } from 'rxdb';
import { getRxStorageDexie } from 'rxdb/plugins/storage-dexie';
import * as Y from 'yjs';
import { IndexeddbPersistence } from 'y-indexeddb';
import { openBrowser, type BrowserPeerKV, type OpenBrowserOptions, type TraceView } from 'peerkv/browser';
import { lockReleased } from '../../e2e/browser/fixture/lock-released.ts';

/** What the workloads call. */
export interface KvSystem {
  put(key: string, value: Uint8Array): Promise<void>;
  /** Resolves with the value's length (0 when absent), so every system's read is checked alike. */
  get(key: string, consistency?: 'linearizable' | 'follower' | 'stale'): Promise<number>;
  batchPut(pairs: [string, Uint8Array][]): Promise<void>;
  /** Reads every pair in [start, end); resolves with how many. */
  scan(start: string, end: string): Promise<number>;
  close(): Promise<void>;
  /** PeerKV only: turns its host's latency trace on (afresh) or off; answers what it recorded (`kv.trace`). */
  trace?(on: boolean): Promise<TraceView>;
}

/** Opens (creates, or reopens) the database `name`. */
export type Opener = (name: string) => Promise<KvSystem>;

const enc = new TextEncoder();
const latin = (v: Uint8Array): string => String.fromCharCode(...v.map((b) => 0x20 + (b % 0x5f)));

/** Raw `idb`: one object store, one readwrite transaction per put at `durability`. */
export function idbSystem(durability: 'strict' | 'relaxed'): Opener {
  return async (name) => {
    const db = await openDB(name, 1, { upgrade: (d) => void d.createObjectStore('kv') });
    return {
      async put(k, v) {
        const tx = db.transaction('kv', 'readwrite', { durability });
        void tx.store.put(v, k);
        await tx.done;
      },
      get: async (k) => ((await db.get('kv', k)) as Uint8Array | undefined)?.length ?? 0,
      async batchPut(pairs) {
        const tx = db.transaction('kv', 'readwrite', { durability });
        for (const [k, v] of pairs) void tx.store.put(v, k);
        await tx.done;
      },
      scan: async (s, e) => (await db.getAll('kv', IDBKeyRange.bound(s, e, false, true))).length,
      close: async () => db.close(),
    };
  };
}

/** Dexie with out-of-line keys; `durability` set only for the strict row. */
export function dexieSystem(durability?: 'strict'): Opener {
  return async (name) => {
    const db = new Dexie(name, durability ? { chromeTransactionDurability: durability } : {});
    db.version(1).stores({ kv: '' });
    await db.open();
    const t = db.table<Uint8Array, string>('kv');
    return {
      put: async (k, v) => void (await t.put(v, k)),
      get: async (k) => (await t.get(k))?.length ?? 0,
      batchPut: async (pairs) => void (await t.bulkPut(pairs.map((p) => p[1]), pairs.map((p) => p[0]))),
      scan: async (s, e) => (await t.where(':id').between(s, e, true, false).toArray()).length,
      close: async () => db.close(),
    };
  };
}

interface KvDoc {
  id: string;
  v: string;
}

const KV_SCHEMA = {
  version: 0,
  primaryKey: 'id',
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 }, v: { type: 'string' } },
  required: ['id', 'v'],
} as const;

/** RxDB on its Dexie storage, one collection, default settings. */
export const rxdbSystem: Opener = async (name) => {
  const db = await createRxDatabase({ name, storage: getRxStorageDexie() });
  await db.addCollections({ kv: { schema: KV_SCHEMA } });
  const c = db.kv as RxCollection<KvDoc>;
  return {
    put: async (k, v) => void (await c.upsert({ id: k, v: latin(v) })),
    get: async (k) => (await c.findOne(k).exec())?.v.length ?? 0,
    async batchPut(pairs) {
      const r = await c.bulkUpsert(pairs.map(([id, v]) => ({ id, v: latin(v) })));
      if (r.error.length > 0) throw new Error(`rxdb bulkUpsert: ${r.error.length} errors`);
    },
    scan: async (s, e) => (await c.find({ selector: { id: { $gte: s, $lt: e } }, sort: [{ id: 'asc' }] }).exec()).length,
    close: async () => void (await db.close()),
  };
};

/**
 * Yjs: one `Y.Map` persisted by y-indexeddb. y-indexeddb writes each update in a readwrite
 * transaction it does not expose; a readonly transaction on the same store, created after it,
 * starts only once that one has committed (IndexedDB's ordering of overlapping scopes), so
 * awaiting it awaits the update's persistence.
 */
export const yjsSystem: Opener = async (name) => {
  const doc = new Y.Doc();
  const persistence = new IndexeddbPersistence(name, doc);
  await persistence.whenSynced;
  const map = doc.getMap<Uint8Array>('kv');
  const persisted = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const tx = persistence.db!.transaction(['updates'], 'readonly');
      tx.objectStore('updates').count();
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  return {
    async put(k, v) {
      map.set(k, v);
      await persisted();
    },
    get: async (k) => map.get(k)?.length ?? 0,
    async batchPut(pairs) {
      doc.transact(() => {
        for (const [k, v] of pairs) map.set(k, v);
      });
      await persisted();
    },
    async scan(s, e) {
      const keys = [...map.keys()].filter((k) => k >= s && k < e).sort();
      let n = 0;
      for (const k of keys) if (map.get(k)) n++;
      return n;
    },
    async close() {
      await persistence.destroy();
      doc.destroy();
    },
  };
};

/** Wait for a closed handle's host lock, ms. */
const CLOSE_RELEASE_MS_MAX = 10_000;

/** A PeerKV handle as a `KvSystem`; `close` returns once the store's host lock is free. */
export function peerkvFace(kv: BrowserPeerKV, cluster: string, storeName = 'store'): KvSystem {
  return {
    put: (k, v) => kv.put(enc.encode(k), v),
    get: async (k, consistency) => (await kv.get(enc.encode(k), consistency ? { consistency } : {}))?.length ?? 0,
    batchPut: (pairs) => kv.batchPut(pairs.map(([k, v]) => ({ key: enc.encode(k), value: v }))),
    scan: async (s, e) => (await kv.scan({ start: enc.encode(s), end: enc.encode(e) })).length,
    trace: (on) => kv.trace(on),
    async close() {
      kv.close();
      await lockReleased(`peerkv:${cluster}:${storeName}:host`, CLOSE_RELEASE_MS_MAX);
    },
  };
}

/** PeerKV opened with `options` (the cluster named by the database name); defaults otherwise. */
export function peerkvSystem(options: Omit<OpenBrowserOptions, 'cluster'>): Opener {
  return async (name) => peerkvFace(await openBrowser({ ...options, cluster: name }), name);
}
