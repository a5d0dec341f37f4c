/**
 * Opening an IndexedDB database with an injectable `IDBFactory` and typed failures. `idb`'s
 * `openDB` always uses the global factory, so the request is driven here and the resulting
 * connection is handed to `idb`'s `wrap`.
 */
import { wrap, type IDBPDatabase } from 'idb';
import { StorageError } from './errors.ts';
import { idbStorageError } from './idb-errors.ts';

/** Runs inside the `versionchange` transaction when the database is created or upgraded. */
export type Upgrade = (db: IDBDatabase, oldVersion: number, tx: IDBTransaction) => void;

/**
 * Opens `name` at `version` (the current one when undefined). A `blocked` event is not final:
 * a connection that was just closed still counts until its transactions finish. Only if the
 * upgrade is still blocked `blockedWaitMs` later does this reject with `Blocked`; if the
 * upgrade goes through after that, the late connection is closed at once.
 */
export function openIdb(factory: IDBFactory, name: string, version: number | undefined, upgrade: Upgrade, blockedWaitMs: number): Promise<IDBPDatabase> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    const fail = (e: StorageError): void => {
      clearTimeout(blockedTimer);
      if (settled) return;
      settled = true;
      reject(e);
    };
    let req: IDBOpenDBRequest;
    try {
      req = version === undefined ? factory.open(name) : factory.open(name, version);
    } catch (e) {
      fail(idbStorageError(e, `open ${name}`));
      return;
    }
    req.onupgradeneeded = (ev) => {
      try {
        upgrade(req.result, ev.oldVersion, req.transaction as IDBTransaction);
      } catch (e) {
        fail(idbStorageError(e, `upgrade ${name}`));
        req.transaction?.abort();
      }
    };
    req.onblocked = () => {
      clearTimeout(blockedTimer);
      blockedTimer = setTimeout(
        () => fail(new StorageError('Blocked', `open ${name} v${version}: another connection blocks the upgrade for ${blockedWaitMs} ms`)),
        blockedWaitMs,
      );
    };
    req.onerror = (ev) => {
      ev.preventDefault();
      fail(idbStorageError(req.error, `open ${name}`));
    };
    req.onsuccess = () => {
      clearTimeout(blockedTimer);
      if (settled) {
        req.result.close();
        return;
      }
      settled = true;
      resolve(wrap(req.result));
    };
  });
}
