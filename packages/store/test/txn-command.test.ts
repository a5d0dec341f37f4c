/** The `txn` command: its codec (a new tag; older tags unchanged) and the user key of each op. */
import { describe, expect, it } from 'vitest';
import { deleteLock, putValue, putWrite } from '@peerkv/txn';
import { CommandDecodeError, decodeCommand, encodeCommand, type TxnCommand } from '../src/index.ts';
import { txnOpUserKey } from '../src/txn/apply-txn.ts';

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
    expect(decoded.ops.map((op) => ({ ...op, cf: (op as { cf?: string }).cf ?? 'default' }))).toEqual(cmd.ops);
    expect(() => decodeCommand(bytes.subarray(0, bytes.length - 1))).toThrow(CommandDecodeError);
  });

  it('decodes the user key of each op from its column family layout', () => {
    expect(txnOpUserKey(deleteLock(k('abcdefghij')))).toEqual(k('abcdefghij'));
    expect(txnOpUserKey(putValue(k('abcdefgh'), 7n, k('x')))).toEqual(k('abcdefgh'));
    expect(() => txnOpUserKey({ type: 'deleteRange', start: k('a'), end: k('b') })).toThrow();
  });
});
