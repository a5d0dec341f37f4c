/**
 * The end-of-run data-key check (`dataKeyLagProblem`): every data region switched to the newest
 * key id a full store of its component holds, components joined by the regions stores share.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import type { Store } from '@peerkv/store';
import { dataKeyLagProblem } from '../src/cluster/data-key-rotation.ts';

/** A store with keyring `keyId` (undefined: a witness) whose replicas switched as `switched` says (region id → key id). */
function store(storeId: number, keyId: number | undefined, switched: Record<number, number>): Store {
  return { storeId, dataKeyId: () => keyId, dataKeySwitchOf: (id: number) => (id in switched ? { keyId: switched[id], index: 5 } : undefined) } as unknown as Store;
}

function region(id: number, storeIds: number[], witness?: number): Region {
  const peers = storeIds.map((s) => ({ id: id * 100 + s, storeId: s, role: 'voter' as const, ...(s === witness ? { witness: true as const } : {}) }));
  return { id, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers };
}

describe('dataKeyLagProblem', () => {
  it('is undefined when every replica switched to its component newest key, witnesses aside', () => {
    const stores = [store(1, 2, { 10: 2, 11: 2 }), store(2, 2, { 10: 2 }), store(3, undefined, { 10: 0, 11: 0 }), store(4, 2, { 11: 2 })];
    expect(dataKeyLagProblem(stores, [region(10, [1, 2, 3], 3), region(11, [1, 3, 4], 3)])).toBeUndefined();
  });

  it('names a replica below a key held by a store it reaches only through another region', () => {
    // Store 4 shares no region with store 1, whose keyring is at 3; region 11 joins them through store 2.
    const stores = [store(1, 3, { 10: 3 }), store(2, 3, { 10: 3, 11: 1 }), store(4, 1, { 11: 1 })];
    expect(dataKeyLagProblem(stores, [region(10, [1, 2]), region(11, [2, 4])])).toBe('region 11 on store 2 is at data key 1, a store it shares regions with at 3');
  });

  it('does not join components through a witness, nor hold a region to a key of a component it is not in', () => {
    const stores = [store(1, 5, { 10: 5 }), store(2, 5, { 10: 5 }), store(3, undefined, { 10: 0, 11: 0 }), store(4, 0, { 11: 0 }), store(5, 0, { 11: 0 })];
    expect(dataKeyLagProblem(stores, [region(10, [1, 2, 3], 3), region(11, [3, 4, 5], 3)])).toBeUndefined();
  });
});
