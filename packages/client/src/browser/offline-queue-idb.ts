/**
 * The browser's offline queue store: the records of `txn/offline-queue.ts` in IndexedDB
 * (database `peerkv:<cluster>:<storeName>:offline-queue`, object store `txns`, keyed by id),
 * so queued transactions survive reloads and browser restarts. It lives on the tab side: the
 * tabs run the transaction functions and mutators, and every tab of the profile opens the same
 * database (one drains at a time, under a Web Lock: `open-browser.ts`). Records are stored as
 * structured clones (bigint timestamps, Uint8Array keys); every write transaction is
 * `durability: 'strict'` (committed to disk before it resolves).
 */
import { wrap, type DBSchema, type IDBPDatabase } from 'idb';
import type { OfflineQueueStore, QueuedTxnRecord } from '../txn/offline-queue.ts';
import { BrowserKvError } from './protocol.ts';

/** The schema version of the queue database. */
export const OFFLINE_QUEUE_DB_VERSION = 1;
const TXNS = 'txns';

interface QueueSchema extends DBSchema {
  txns: { key: string; value: QueuedTxnRecord };
}

/** The queue database's name for a cluster and store name. */
export function offlineQueueDatabaseName(cluster: string, storeName: string): string {
  return `peerkv:${cluster}:${storeName}:offline-queue`;
}

function openQueueDb(factory: IDBFactory, name: string): Promise<IDBPDatabase<QueueSchema>> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, OFFLINE_QUEUE_DB_VERSION);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(TXNS)) req.result.createObjectStore(TXNS, { keyPath: 'id' });
    };
    req.onblocked = () => reject(new BrowserKvError('Internal', `open ${name}: blocked by another connection at an older version`));
    req.onerror = (ev) => {
      ev.preventDefault();
      reject(new BrowserKvError('Internal', `open ${name}: ${req.error?.message ?? 'failed'}`));
    };
    req.onsuccess = () => resolve(wrap(req.result) as unknown as IDBPDatabase<QueueSchema>);
  });
}

/** `OfflineQueueStore` over IndexedDB. */
export class IdbOfflineQueueStore implements OfflineQueueStore {
  private db: Promise<IDBPDatabase<QueueSchema>> | undefined;

  constructor(
    readonly name: string,
    /** The IndexedDB factory (`globalThis.indexedDB` when absent; tests pass fake-indexeddb's). */
    private readonly factory?: IDBFactory,
  ) {}

  private open(): Promise<IDBPDatabase<QueueSchema>> {
    const factory = this.factory ?? globalThis.indexedDB;
    if (factory === undefined) return Promise.reject(new BrowserKvError('Internal', 'IndexedDB is not available here'));
    this.db ??= openQueueDb(factory, this.name);
    this.db.catch(() => (this.db = undefined));
    return this.db;
  }

  async load(): Promise<QueuedTxnRecord[]> {
    const db = await this.open();
    return db.getAll(TXNS);
  }

  async put(record: QueuedTxnRecord): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(TXNS, 'readwrite', { durability: 'strict' });
    await Promise.all([tx.store.put(record), tx.done]);
  }

  async delete(id: string): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(TXNS, 'readwrite', { durability: 'strict' });
    await Promise.all([tx.store.delete(id), tx.done]);
  }

  /** Closes the connection (a later call opens it again). */
  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db.catch(() => undefined))?.close();
  }
}
