/**
 * IndexedDB-specific behaviour on fake-indexeddb: format versioning, blocked upgrades,
 * connections closed under the engine, error mapping, the injectable factory.
 */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { describe, expect, it } from 'vitest';
import { WriteBatch } from '../src/engine.ts';
import { StorageError } from '../src/errors.ts';
import { IDB_META_STORE, IdbEngine } from '../src/idb-engine.ts';
import { idbStorageError } from '../src/idb-errors.ts';

const enc = new TextEncoder();
const relaxed = { durability: 'relaxed' } as const;
let n = 0;
const freshName = (): string => `idb-test-${++n}`;

describe('IdbEngine format versioning', () => {
  it('refuses a newer format and leaves the data untouched', async () => {
    const name = freshName();
    const e = await IdbEngine.open({ name, columnFamilies: ['default'] });
    await e.write(new WriteBatch().put('default', enc.encode('k'), enc.encode('v')), relaxed);
    await e.close();
    const raw = await openDB(name);
    await raw.put(IDB_META_STORE, { format: 99, writer: 'future' }, 'format');
    const versionBefore = raw.version;
    raw.close();

    const err = await IdbEngine.open({ name, columnFamilies: ['default', 'newcf'] }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).kind).toBe('FormatUnsupported');
    expect((err as StorageError).message).toMatch(/format 99 is newer/);

    const after = await openDB(name);
    expect(after.version).toBe(versionBefore);
    expect(after.objectStoreNames.contains('newcf')).toBe(false);
    expect(await after.get('default', enc.encode('k'))).toBeDefined();
    expect(await after.get(IDB_META_STORE, 'format')).toEqual({ format: 99, writer: 'future' });
    after.close();
  });

  it('refuses a foreign database without a format record', async () => {
    const name = freshName();
    const raw = await openDB(name, 3, { upgrade: (db) => void db.createObjectStore('default') });
    raw.close();
    await expect(IdbEngine.open({ name, columnFamilies: ['default'] })).rejects.toMatchObject({ kind: 'FormatUnsupported' });
    const after = await openDB(name);
    expect(after.version).toBe(3);
    expect(after.objectStoreNames.contains(IDB_META_STORE)).toBe(false);
    after.close();
  });
});

describe('IdbEngine connections', () => {
  it('adding a column family while another connection stays open fails as Blocked', async () => {
    const name = freshName();
    (await IdbEngine.open({ name, columnFamilies: ['a'] })).close();
    const holder = await openDB(name); // no versionchange handler: it never closes
    await expect(IdbEngine.open({ name, columnFamilies: ['a', 'b'], upgradeBlockedWaitMs: 50 })).rejects.toMatchObject({ kind: 'Blocked' });
    holder.close();
  });

  it('an upgrade blocked only briefly (a connection closing) goes through', async () => {
    const name = freshName();
    (await IdbEngine.open({ name, columnFamilies: ['a'] })).close();
    const holder = await openDB(name, undefined, { blocked: () => undefined });
    const opening = IdbEngine.open({ name, columnFamilies: ['a', 'b'], upgradeBlockedWaitMs: 5000 });
    await new Promise((r) => setTimeout(r, 30));
    holder.close();
    const e = await opening;
    expect([...e.columnFamilies]).toEqual(['a', 'b']);
    await e.close();
  });

  it('closes itself when another connection upgrades, then reports Closed', async () => {
    const name = freshName();
    const first = await IdbEngine.open({ name, columnFamilies: ['a'] });
    const second = await IdbEngine.open({ name, columnFamilies: ['a', 'b'] });
    await expect(first.get('a', enc.encode('k'))).rejects.toMatchObject({ kind: 'Closed' });
    await expect(first.write(new WriteBatch().put('a', enc.encode('k'), enc.encode('v')), relaxed)).rejects.toMatchObject({ kind: 'Closed' });
    await second.write(new WriteBatch().put('b', enc.encode('k'), enc.encode('v')), relaxed);
    await second.close();
  });

  it('uses an injected IDBFactory, isolated from the global one', async () => {
    const factory = new IDBFactory();
    const name = freshName();
    const e = await IdbEngine.open({ name, columnFamilies: ['a'], indexedDB: factory });
    await e.write(new WriteBatch().put('a', enc.encode('k'), enc.encode('v')), relaxed);
    await e.close();
    const names = (await indexedDB.databases()).map((d) => d.name);
    expect(names).not.toContain(name);
    expect((await factory.databases()).map((d) => d.name)).toContain(name);
  });
});

describe('idbStorageError', () => {
  it.each([
    ['QuotaExceededError', 'QuotaExceeded'],
    ['AbortError', 'Aborted'],
    ['VersionError', 'VersionError'],
    ['InvalidStateError', 'Closed'],
    ['DataError', 'InvalidArgument'],
    ['UnknownError', 'Io'],
  ])('maps %s to %s', (domName, kind) => {
    const err = idbStorageError(new DOMException('x', domName), 'op');
    expect(err).toBeInstanceOf(StorageError);
    expect(err.kind).toBe(kind);
    expect(err.cause).toBeInstanceOf(DOMException);
  });
});

describe('IdbEngine aborts', () => {
  it('a transaction aborted after its requests were issued is reported as Aborted, not written', async () => {
    const name = freshName();
    const e = await IdbEngine.open({ name, columnFamilies: ['a'] });
    const proto = IDBObjectStore.prototype;
    const original = proto.put;
    proto.put = function put(this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      const req = original.apply(this, args);
      this.transaction.abort();
      return req;
    };
    try {
      const wb = new WriteBatch().put('a', enc.encode('k1'), enc.encode('v')).put('a', enc.encode('k2'), enc.encode('v'));
      await expect(e.write(wb, { durability: 'strict' })).rejects.toMatchObject({ kind: 'Aborted' });
    } finally {
      proto.put = original;
    }
    expect(await e.get('a', enc.encode('k1'))).toBeUndefined();
    await e.close();
  });
});
