/**
 * `PeerKeyBook` (issue 13, finding 6): which key a store accepts for which peer store id.
 * PD's record when this store hosts a PD replica, else a key pinned on first use and kept in
 * the engine; PD's record replaces a pin that disagrees; temporary ids need no key.
 */
import { describe, expect, it } from 'vitest';
import { PdStateMachine } from '@peerkv/pd';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { PeerKeyBook, STORE_CFS, TEMP_STORE_ID_MIN } from '../src/index.ts';

function key(fill: number): Uint8Array {
  const k = new Uint8Array(65).fill(fill);
  k[0] = 0x04;
  return k;
}

describe('PeerKeyBook', () => {
  it('pins the first key proven for an id, keeps it across a reopen, and refuses another key or none for it', async () => {
    const disk = new MemoryDisk();
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS, disk });
    const book = await PeerKeyBook.load(engine);
    expect(await book.admit(5, key(1))).toBe(true);
    expect(await book.admit(5, key(1))).toBe(true);
    expect(await book.admit(5, key(2))).toBe(false);
    expect(await book.admit(5, undefined)).toBe(false);
    // An id with no key known and none proven (a store of an earlier version) is admitted.
    expect(await book.admit(6, undefined)).toBe(true);
    // Temporary ids (clients) need no key, and pin nothing.
    expect(await book.admit(TEMP_STORE_ID_MIN + 3, undefined)).toBe(true);
    expect(await book.admit(TEMP_STORE_ID_MIN + 3, key(9))).toBe(true);
    expect(book.knownKey(TEMP_STORE_ID_MIN + 3)).toBeUndefined();
    expect(book.counters).toEqual({ matched: 1, pinned: 1, repinned: 0, refused: 2, unkeyed: 1 });
    await engine.close();
    const reopened = await PeerKeyBook.load(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk }));
    expect(reopened.knownKey(5)).toEqual(key(1));
    expect(await reopened.admit(5, key(2))).toBe(false);
    expect(await reopened.admit(5, key(1))).toBe(true);
  });

  it('PD’s record wins: over a pin that disagrees, and for an id this store never met', async () => {
    const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
    const book = await PeerKeyBook.load(engine);
    // An impostor came first and was pinned.
    expect(await book.admit(7, key(3))).toBe(true);
    const sm = PdStateMachine.create();
    sm.apply({ kind: 'bootstrap', clusterId: 1, store: { id: 1, address: 'a', labels: {}, state: 'up' }, region: { id: 2, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [{ id: 3, storeId: 1, role: 'voter' }] }, pdGroup: { regionId: 4, epoch: { confVer: 1, version: 1 }, peers: [{ id: 5, storeId: 1, role: 'voter' }] }, nowMs: 0 });
    for (const k of [key(4), key(5)]) sm.apply({ kind: 'putStore', storeId: 0, address: `s${k[1]}`, labels: {}, nowMs: 0, publicKey: k });
    const [six, seven] = [6, 7].map((id) => sm.getStore(id)!);
    expect(six.meta.publicKey).toEqual(key(4));
    book.attachPd(() => sm);
    // Store 6 (PD key 4) was never met: PD's record is required at once.
    expect(await book.admit(6, key(9))).toBe(false);
    expect(await book.admit(6, key(4))).toBe(true);
    // Store 7's pin (key 3, the impostor) disagrees with PD (key 5): PD's replaces it.
    expect(seven.meta.publicKey).toEqual(key(5));
    expect(await book.admit(7, key(3))).toBe(false);
    expect(await book.admit(7, key(5))).toBe(true);
    expect(book.counters.repinned).toBe(1);
    expect((await PeerKeyBook.load(engine)).knownKey(7)).toEqual(key(5));
  });
});
