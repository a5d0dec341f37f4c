/**
 * `EngineHarness` for `IdbEngine`, shared by the Node suite (fake-indexeddb) and the Chromium
 * Worker suite. Quota faults are injected by wrapping `IDBObjectStore.prototype.put` so it
 * throws a `QuotaExceededError` DOMException, as a full origin does.
 */
import { IdbEngine } from '../../src/idb-engine.ts';
import type { HarnessFactory } from './harness.ts';

/** Where the IndexedDB implementation comes from. */
export interface IdbEnvironment {
  indexedDB: IDBFactory;
  keyRange: typeof IDBKeyRange;
  /** The prototype whose `put` the quota fault wraps. */
  objectStorePrototype: IDBObjectStore;
}

/** The environment of the current global scope (a browser, or Node after `fake-indexeddb/auto`). */
export function globalIdbEnvironment(): IdbEnvironment {
  return { indexedDB: globalThis.indexedDB, keyRange: globalThis.IDBKeyRange, objectStorePrototype: globalThis.IDBObjectStore.prototype };
}

let harnessCount = 0;

/** Fresh `IdbEngine` harnesses, each over its own database. */
export function idbHarnessFactory(env: IdbEnvironment, namePrefix = 'peerkv-conformance'): HarnessFactory {
  return async () => {
    const name = `${namePrefix}-${++harnessCount}`;
    return {
      open: (columnFamilies) => IdbEngine.open({ name, columnFamilies, indexedDB: env.indexedDB, keyRange: env.keyRange }),
      injectQuotaFault(putsAllowed: number) {
        const proto = env.objectStorePrototype;
        const original = proto.put;
        let left = putsAllowed;
        proto.put = function put(this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
          if (left-- <= 0) throw new DOMException('simulated: quota exceeded', 'QuotaExceededError');
          return original.apply(this, args);
        };
        return () => {
          proto.put = original;
        };
      },
      dispose: () => deleteDatabase(env.indexedDB, name),
    };
  };
}

/** Deletes a database, resolving also when blocked (a test's leaked connection must not hang it). */
export function deleteDatabase(factory: IDBFactory, name: string): Promise<void> {
  return new Promise((resolve) => {
    const req = factory.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => resolve();
    req.onblocked = () => resolve();
  });
}
