import { describe, expect, it } from 'vitest';
import { KvDecodeError, KvStateMachine, decodeCommand, encodeCommand, type KvCommand } from '../src/kv.ts';

describe('KvStateMachine', () => {
  it('applies puts and deletes and returns the previous value', () => {
    const kv = new KvStateMachine();
    expect(kv.apply({ kind: 'put', clientId: 1, seq: 1, key: 'a', value: 'x' })).toEqual({ kind: 'applied', result: { previous: null } });
    expect(kv.apply({ kind: 'put', clientId: 1, seq: 2, key: 'a', value: 'y' })).toEqual({ kind: 'applied', result: { previous: 'x' } });
    expect(kv.apply({ kind: 'delete', clientId: 2, seq: 1, key: 'a' })).toEqual({ kind: 'applied', result: { previous: 'y' } });
    expect(kv.get('a')).toBeNull();
  });

  it('applies each (clientId, seq) at most once and remembers its result', () => {
    const kv = new KvStateMachine();
    kv.apply({ kind: 'put', clientId: 1, seq: 5, key: 'a', value: 'x' });
    kv.apply({ kind: 'put', clientId: 2, seq: 1, key: 'a', value: 'z' });
    expect(kv.apply({ kind: 'put', clientId: 1, seq: 5, key: 'a', value: 'x' })).toEqual({ kind: 'duplicate', result: { previous: null } });
    expect(kv.get('a')).toBe('z');
    expect(kv.apply({ kind: 'put', clientId: 1, seq: 4, key: 'a', value: 'old' })).toEqual({ kind: 'stale' });
    expect(kv.get('a')).toBe('z');
    expect(kv.resultOf(1, 5)).toEqual({ previous: null });
    expect(kv.hasApplied(1, 3)).toBe(true);
    expect(kv.hasApplied(1, 6)).toBe(false);
  });

  it('round-trips commands and snapshots', () => {
    const cmd: KvCommand = { kind: 'put', clientId: 3, seq: 9, key: 'k', value: 'v' };
    expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
    const kv = new KvStateMachine();
    kv.apply(cmd);
    const copy = KvStateMachine.restore(kv.serialize());
    expect(copy.get('k')).toBe('v');
    expect(copy.apply(cmd).kind).toBe('duplicate');
    expect(KvStateMachine.restore(new Uint8Array()).size).toBe(0);
  });

  it('rejects bytes that are not a command', () => {
    expect(() => decodeCommand(new TextEncoder().encode('{"kind":"drop"}'))).toThrow(KvDecodeError);
  });
});
