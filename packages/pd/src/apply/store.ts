/**
 * Apply handlers for stores: join (a new id each time a store comes without one: a store
 * whose storage was wiped joins as a new store), heartbeats, and state changes
 * (up ⇄ offline → tombstone; tombstone is final).
 */
import type { PdApplyResult, PutStoreCommand, SetStoreStateCommand, StoreHeartbeatCommand } from '../command.ts';
import type { PdError } from '../errors.ts';
import { compareKeys, type StoreId, type StoreState } from '../meta.ts';
import type { PdState } from '../pd-state.ts';
import { invalid } from './region.ts';

function refused(error: PdError): PdApplyResult {
  return { kind: 'refused', error };
}

/**
 * A store with no id gets a fresh one. An older, non-tombstone store at the same address is
 * an earlier incarnation of this one (its storage was wiped): it is set offline so the
 * replica checker moves its peers away.
 */
export function applyPutStore(s: PdState, cmd: PutStoreCommand): PdApplyResult {
  if (!s.bootstrapped) return refused({ kind: 'NotBootstrapped' });
  if (cmd.storeId !== 0) return updateStore(s, cmd);
  if (s.idHighWater + 1 > Number.MAX_SAFE_INTEGER) return invalid('id space exhausted');
  const storeId = ++s.idHighWater;
  const replacedStoreIds: StoreId[] = [];
  for (const other of s.sortedStores()) {
    if (other.meta.address !== cmd.address || other.meta.state !== 'up') continue;
    other.meta.state = 'offline';
    replacedStoreIds.push(other.meta.id);
  }
  s.stores.set(storeId, {
    meta: { id: storeId, address: cmd.address, labels: { ...cmd.labels }, state: 'up', ...(cmd.publicKey ? { publicKey: new Uint8Array(cmd.publicKey) } : {}) },
    stats: undefined,
    lastHeartbeatMs: cmd.nowMs,
  });
  return { kind: 'storePut', storeId, isNew: true, replacedStoreIds };
}

function updateStore(s: PdState, cmd: PutStoreCommand): PdApplyResult {
  const store = s.stores.get(cmd.storeId);
  if (store === undefined) return refused({ kind: 'StoreNotFound', storeId: cmd.storeId });
  if (store.meta.state === 'tombstone') return refused({ kind: 'StoreTombstoned', storeId: cmd.storeId });
  const recorded = store.meta.publicKey;
  // The recorded key is the store's identity on every link: whoever holds the cluster secret
  // may send this command, so it never replaces a key, only records the first one.
  if (cmd.publicKey !== undefined && recorded !== undefined && compareKeys(recorded, cmd.publicKey) !== 0) return refused({ kind: 'StoreKeyMismatch', storeId: cmd.storeId });
  if (cmd.publicKey !== undefined && recorded === undefined) store.meta.publicKey = new Uint8Array(cmd.publicKey);
  store.meta.address = cmd.address;
  store.meta.labels = { ...cmd.labels };
  store.lastHeartbeatMs = Math.max(store.lastHeartbeatMs, cmd.nowMs);
  return { kind: 'storePut', storeId: cmd.storeId, isNew: false, replacedStoreIds: [] };
}

/** Records a store's stats and the proposer's clock; tombstones are told so. */
export function applyStoreHeartbeat(s: PdState, cmd: StoreHeartbeatCommand): PdApplyResult {
  if (!s.bootstrapped) return refused({ kind: 'NotBootstrapped' });
  const storeId = cmd.stats.storeId;
  const store = s.stores.get(storeId);
  if (store === undefined) return refused({ kind: 'StoreNotFound', storeId });
  if (store.meta.state === 'tombstone') return refused({ kind: 'StoreTombstoned', storeId });
  store.stats = { ...cmd.stats };
  store.lastHeartbeatMs = Math.max(store.lastHeartbeatMs, cmd.nowMs);
  return { kind: 'storeUpdated', storeId };
}

/** Allowed moves: up → offline, offline → up, offline → tombstone; `force` also allows up → tombstone and a non-empty tombstone. */
function transitionAllowed(from: StoreState, to: StoreState, force: boolean): boolean {
  if (from === 'tombstone') return false;
  if (to === 'tombstone') return from === 'offline' || force;
  return true;
}

/** Moves a store between states (see `transitionAllowed`). */
export function applySetStoreState(s: PdState, cmd: SetStoreStateCommand): PdApplyResult {
  if (!s.bootstrapped) return refused({ kind: 'NotBootstrapped' });
  const store = s.stores.get(cmd.storeId);
  if (store === undefined) return refused({ kind: 'StoreNotFound', storeId: cmd.storeId });
  const from = store.meta.state;
  if (from === cmd.state) return { kind: 'storeUpdated', storeId: cmd.storeId };
  if (!transitionAllowed(from, cmd.state, cmd.force)) {
    return refused({ kind: 'InvalidStoreStateChange', storeId: cmd.storeId, from, to: cmd.state });
  }
  if (cmd.state === 'tombstone' && !cmd.force) {
    const peerCount = s.peerCountOnStore(cmd.storeId);
    if (peerCount > 0) return refused({ kind: 'StoreNotEmpty', storeId: cmd.storeId, peerCount });
  }
  store.meta.state = cmd.state;
  return { kind: 'storeUpdated', storeId: cmd.storeId };
}
