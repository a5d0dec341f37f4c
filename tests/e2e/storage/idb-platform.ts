/**
 * What `IdbEngine` takes from the browser's IndexedDB, checked on the platform itself (each
 * engine's storage spec runs these in its Worker): the `durability` hint is kept on the
 * transaction; binary keys order bytewise and come back as `ArrayBuffer`; a `Uint8Array` value
 * comes back as a `Uint8Array` (structured clone keeps the view); a transaction commits on its
 * own once it has no pending request and control returns to the event loop, so a request
 * after a macrotask is refused (`TransactionInactiveError`, or `InvalidStateError` once it has
 * finished: Chromium 156 and Firefox 153 both give the latter), which is why `IdbEngine` issues
 * a batch's requests synchronously and then awaits `tx.done` alone.
 */
import type { CaseResult } from '../../../packages/storage/test/conformance/cases.ts';

const req = <T>(r: IDBRequest<T>): Promise<T> => new Promise((res, rej) => ((r.onsuccess = () => res(r.result)), (r.onerror = () => rej(r.error))));
const done = (tx: IDBTransaction): Promise<void> => new Promise((res, rej) => ((tx.oncomplete = () => res()), (tx.onabort = tx.onerror = () => rej(tx.error))));

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

async function openDb(name: string): Promise<IDBDatabase> {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('s');
  return req(open);
}

const CASES: Array<[string, (db: IDBDatabase) => Promise<void>]> = [
  [
    'a transaction keeps the durability hint it was given',
    async (db) => {
      for (const d of ['strict', 'relaxed'] as const) {
        const tx = db.transaction('s', 'readwrite', { durability: d });
        check(tx.durability === d, `asked ${d}, transaction says ${tx.durability}`);
        await done(tx);
      }
    },
  ],
  [
    'binary keys order bytewise and read back as ArrayBuffer; Uint8Array values read back as Uint8Array',
    async (db) => {
      const keys = [[0xff], [0x01, 0x00], [0x01], [0x80, 0x7f], []].map((k) => new Uint8Array(k));
      const tx = db.transaction('s', 'readwrite', { durability: 'strict' });
      for (const k of keys) tx.objectStore('s').put(new Uint8Array([...k, 9]), k);
      await done(tx);
      const rtx = db.transaction('s', 'readonly');
      const [gotKeys, gotValues] = await Promise.all([req(rtx.objectStore('s').getAllKeys()), req(rtx.objectStore('s').getAll())]);
      check(gotKeys.every((k) => k instanceof ArrayBuffer), `keys came back as ${gotKeys.map((k) => Object.prototype.toString.call(k)).join(', ')}`);
      const order = gotKeys.map((k) => [...new Uint8Array(k as ArrayBuffer)].join('.'));
      check(JSON.stringify(order) === JSON.stringify(['', '1', '1.0', '128.127', '255']), `key order ${JSON.stringify(order)}`);
      check(gotValues.every((v) => v instanceof Uint8Array), `values came back as ${gotValues.map((v) => Object.prototype.toString.call(v)).join(', ')}`);
    },
  ],
  [
    'an idle transaction commits by itself: a request after a macrotask is refused',
    async (db) => {
      const tx = db.transaction('s', 'readwrite', { durability: 'relaxed' });
      const committed = done(tx);
      await new Promise((r) => setTimeout(r, 0));
      let name = 'no error';
      try {
        tx.objectStore('s').put(new Uint8Array([1]), new Uint8Array([42]));
      } catch (e) {
        name = (e as DOMException).name;
      }
      // Inactive, or already finished (`objectStore` on a committed transaction): refused either way.
      check(name === 'TransactionInactiveError' || name === 'InvalidStateError', `a late request gave ${name}`);
      await committed;
    },
  ],
];

/** Runs every check on a fresh database; `report` sees each result as it comes. */
export async function runIdbPlatformChecks(report: (r: CaseResult) => void): Promise<CaseResult[]> {
  const db = await openDb(`peerkv-platform-${Date.now()}`);
  const results: CaseResult[] = [];
  try {
    for (const [name, run] of CASES) {
      try {
        await run(db);
        results.push({ name, ok: true });
      } catch (e) {
        results.push({ name, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
      report(results[results.length - 1]);
    }
  } finally {
    db.close();
  }
  return results;
}

/** How many checks `runIdbPlatformChecks` runs. */
export const IDB_PLATFORM_CHECKS = CASES.length;
