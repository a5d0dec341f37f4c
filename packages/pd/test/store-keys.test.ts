/**
 * Store identity keys in PD (issue 13, finding 6): a store's public key is recorded when it
 * joins (or bootstraps, or first restarts with one) and never replaced; the commands and
 * snapshots carrying keys decode, and those written before keys still decode unchanged.
 */
import { describe, expect, it } from 'vitest';
import { PdStateMachine, decodePdCommand, encodePdCommand, type PdCommand } from '../src/index.ts';
import { bootstrapCommand, bootstrapped, expectKind } from './helpers.ts';

function key(fill: number): Uint8Array {
  const k = new Uint8Array(65).fill(fill);
  k[0] = 0x04;
  return k;
}

const put = (storeId: number, publicKey?: Uint8Array, address = 'dev-a'): PdCommand => ({ kind: 'putStore', storeId, address, labels: { device: 'a' }, nowMs: 2000, ...(publicKey ? { publicKey } : {}) });

describe('store keys in PD', () => {
  it('records the key a store joins with, and refuses another key for it; the recorded key stays', () => {
    const sm = bootstrapped();
    const id = expectKind(sm.apply(put(0, key(1))), 'storePut').storeId;
    expect(sm.getStore(id)?.meta.publicKey).toEqual(key(1));
    // The same key again (a restart): served, address updated.
    expectKind(sm.apply(put(id, key(1), 'dev-a2')), 'storePut');
    expect(sm.getStore(id)?.meta.address).toBe('dev-a2');
    // Another key for that id: refused, typed, nothing changes.
    const r = expectKind(sm.apply(put(id, key(2), 'attacker')), 'refused');
    expect(r.error).toEqual({ kind: 'StoreKeyMismatch', storeId: id });
    expect(sm.getStore(id)?.meta.publicKey).toEqual(key(1));
    expect(sm.getStore(id)?.meta.address).toBe('dev-a2');
    // No key (a store of an older version): served, the key is kept.
    expectKind(sm.apply(put(id, undefined, 'dev-a3')), 'storePut');
    expect(sm.getStore(id)?.meta.publicKey).toEqual(key(1));
  });

  it('a store without a key (made before keys) gets the first key it restarts with, then only that one', () => {
    const sm = bootstrapped();
    const id = expectKind(sm.apply(put(0)), 'storePut').storeId;
    expect(sm.getStore(id)?.meta.publicKey).toBeUndefined();
    expectKind(sm.apply(put(id, key(3))), 'storePut');
    expect(sm.getStore(id)?.meta.publicKey).toEqual(key(3));
    expect(expectKind(sm.apply(put(id, key(4))), 'refused').error.kind).toBe('StoreKeyMismatch');
  });

  it('the bootstrap store records its key from the bootstrap command', () => {
    const sm = PdStateMachine.create();
    const cmd = bootstrapCommand();
    expectKind(sm.apply({ ...cmd, store: { ...cmd.store, publicKey: key(5) } }), 'bootstrapped');
    expect(sm.getStore(cmd.store.id)?.meta.publicKey).toEqual(key(5));
  });

  it('commands carry the key as an optional tail: without one they are the bytes they were before keys', () => {
    const withKey = put(3, key(6));
    expect(decodePdCommand(encodePdCommand(withKey))).toEqual(withKey);
    const without = put(3);
    const bytes = encodePdCommand(without);
    expect(decodePdCommand(bytes)).toEqual(without);
    expect(encodePdCommand(withKey).length).toBe(bytes.length + 66);
    const boot = bootstrapCommand();
    const bootKeyed: PdCommand = { ...boot, store: { ...boot.store, publicKey: key(7) } };
    expect(decodePdCommand(encodePdCommand(bootKeyed))).toEqual(bootKeyed);
    expect(decodePdCommand(encodePdCommand(boot))).toEqual(boot);
    // A key of the wrong length is malformed: every replica refuses it the same way.
    const bad = encodePdCommand({ ...(withKey as Extract<PdCommand, { kind: 'putStore' }>), publicKey: new Uint8Array(64).fill(4) });
    expect(expectKind(bootstrapped().applyEntry(bad), 'refused').error.kind).toBe('MalformedCommand');
  });

  it('snapshots keep the keys (a section old snapshots lack); a state without keys snapshots as before', () => {
    const sm = bootstrapped();
    const before = sm.snapshot();
    expect(PdStateMachine.restore(before).snapshot()).toEqual(before);
    const a = expectKind(sm.apply(put(0, key(8), 'x')), 'storePut').storeId;
    const b = expectKind(sm.apply(put(0, undefined, 'y')), 'storePut').storeId;
    const restored = PdStateMachine.restore(sm.snapshot());
    expect(restored.getStore(a)?.meta.publicKey).toEqual(key(8));
    expect(restored.getStore(b)?.meta.publicKey).toBeUndefined();
    expect(restored.snapshot()).toEqual(sm.snapshot());
    // Restored, it still refuses another key for a.
    expect(expectKind(restored.apply(put(a, key(9), 'x')), 'refused').error.kind).toBe('StoreKeyMismatch');
  });
});
