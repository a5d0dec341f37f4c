/** The `txn` command: its codec (a new tag; older tags unchanged) and the user key of each op. */
import { describe, expect, it } from 'vitest';
import { deleteLock, putValue, putWrite } from '@peerkv/txn';
import { CommandDecodeError, decodeCommand, encodeCommand, type TxnCommand } from '../src/index.ts';
import { TxnCommandError, applyTxn, txnOpUserKey } from '../src/txn/apply-txn.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('txn command', () => {
  it('round-trips its ops across the txn column families, under tag 4', () => {
    const cmd: TxnCommand = {
      type: 'txn',
      ops: [deleteLock(k('a')), putWrite(k('a'), 20n, { kind: 'put', startTs: 10n, hasOverlappedRollback: false, shortValue: k('v') }), putValue(k('b'), 10n, new Uint8Array(300))],
    };
    const bytes = encodeCommand(cmd);
    expect(bytes[0]).toBe(4);
    // `default` travels as "no cf" (proto's KvOp encoding): the same family.
    const decoded = decodeCommand(bytes) as TxnCommand;
    expect(decoded.type).toBe('txn');
    expect(decoded.ops).toEqual(cmd.ops);
    expect(() => decodeCommand(bytes.subarray(0, bytes.length - 1))).toThrow(CommandDecodeError);
  });

  it('decodes the user key of each op from its column family layout', () => {
    expect(txnOpUserKey(deleteLock(k('abcdefghij')))).toEqual(k('abcdefghij'));
    expect(txnOpUserKey(putValue(k('abcdefgh'), 7n, k('x')))).toEqual(k('abcdefgh'));
    expect(() => txnOpUserKey({ type: 'deleteRange', cf: 'default', start: k('a'), end: k('b') })).toThrow();
  });
});

describe('txn command apply', () => {
  const region = { id: 2, startKey: k('a'), endKey: k('m'), epoch: { confVer: 1, version: 2 }, peers: [] };
  function context(): { a: Parameters<typeof applyTxn>[1]; writes: string[] } {
    const writes: string[] = [];
    const kv = { put: (cf: string) => writes.push(`put ${cf}`), delete: (cf: string) => writes.push(`delete ${cf}`), deleteRange: () => writes.push('deleteRange') };
    const a = { peer: { region }, kv, dataCfs: ['default', 'lock', 'write'], dataModel: 'mvcc', applied: [] } as unknown as Parameters<typeof applyTxn>[1];
    return { a, writes };
  }

  it('writes every op when every user key is in the region', () => {
    const { a, writes } = context();
    const r = applyTxn({ type: 'txn', ops: [deleteLock(k('b')), putWrite(k('b'), 20n, { kind: 'put', startTs: 10n, hasOverlappedRollback: false })] }, a);
    expect(r.ok).toBe(true);
    expect(writes).toEqual(['delete lock', 'put write']);
    expect(a.applied).toHaveLength(2);
  });

  it('refuses the whole command with EpochNotMatch when one key left the region (a split), writing nothing', () => {
    const { a, writes } = context();
    const r = applyTxn({ type: 'txn', ops: [deleteLock(k('b')), deleteLock(k('x'))] }, a);
    expect(!r.ok && r.error.kind).toBe('EpochNotMatch');
    expect(writes).toEqual([]);
    expect(a.applied).toEqual([]);
  });

  it('stops the store on a column family it does not declare (a broken invariant)', () => {
    const { a } = context();
    expect(() => applyTxn({ type: 'txn', ops: [{ type: 'put', cf: 'extra', key: k('b'), value: k('v') }] }, a)).toThrow(TxnCommandError);
  });
});
