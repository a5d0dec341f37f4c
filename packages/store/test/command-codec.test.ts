/**
 * The region Raft log's command codec: the bytes existing logs and region states hold
 * (golden, produced by the codec before it moved onto `@peerkv/proto`), column families on
 * new ops, and `CommandDecodeError` as the only failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommandDecodeError, dataKeyCommandId, decodeCommand, decodeConfChangeContext, decodeRegion, encodeCommand, encodeConfChangeContext, encodeRegion, type Command, type KvOp } from '../src/command.ts';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (x: Uint8Array): string => Array.from(x, (v) => v.toString(16).padStart(2, '0')).join('');
const unhex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

const ops: KvOp[] = [
  { type: 'put', cf: 'default', key: b('k'), value: b('v') },
  { type: 'delete', cf: 'default', key: b('d') },
  { type: 'deleteRange', cf: 'default', start: b('a'), end: b('z') },
];
const peers = [
  { id: 11, storeId: 1, role: 'voter' as const },
  { id: 12, storeId: 2, role: 'learner' as const },
  { id: 13, storeId: 3, role: 'demotingVoter' as const },
];
const write: Command = { type: 'write', clientId: 'c1', seq: 300, ackFloor: 299, stampMs: 1_763_000_000_000, ops };
const split: Command = { type: 'split', splitKey: b('m'), newRegionId: 7, newPeerIds: [71, 72, 73] };
const region = { id: 2, startKey: b('a'), endKey: new Uint8Array(), epoch: { confVer: 5, version: 9 }, peers };

describe('command codec', () => {
  it('keeps the bytes of existing logs and region states (golden)', () => {
    expect(hex(encodeCommand(write))).toBe('03026331ac02ab0280bcf4d7a7330301016b0176020164030161017a');
    expect(hex(encodeCommand(split))).toBe('02016d0703474849');
    expect(hex(encodeConfChangeContext({ peers }))).toBe('030b01000c02010d0303');
    expect(hex(encodeRegion(region))).toBe('020161000509030b01000c02010d0303');
    expect(decodeCommand(unhex('03026331ac02ab0280bcf4d7a7330301016b0176020164030161017a'))).toEqual(write);
    expect(decodeRegion(unhex('020161000509030b01000c02010d0303'))).toEqual(region);
  });

  it('reads a write of the first layout (no ackFloor, no stampMs) as old logs hold it', () => {
    expect(decodeCommand(unhex('010263310501' + '01016b0176'))).toEqual({ type: 'write', clientId: 'c1', seq: 5, ackFloor: 0, stampMs: 0, ops: [ops[0]] });
  });

  it('round-trips commands whose ops name column families', () => {
    const cmd: Command = { ...write, ops: [{ ...ops[0], cf: 'lock' }, { ...ops[1], cf: 'write' }, ops[2]] };
    expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
    expect(decodeConfChangeContext(encodeConfChangeContext({ peers }))).toEqual({ peers });
  });

  it('throws only CommandDecodeError on bad bytes', () => {
    expect(() => decodeCommand(unhex('09'))).toThrow(CommandDecodeError);
    expect(() => decodeCommand(Uint8Array.of(...encodeCommand(split), 0))).toThrow(CommandDecodeError);
    expect(() => decodeRegion(unhex('0201'))).toThrow(CommandDecodeError);
    expect(() => decodeConfChangeContext(unhex('010b0109'))).toThrow(CommandDecodeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (data) => {
        for (const decode of [decodeCommand, decodeRegion, decodeConfChangeContext]) {
          try {
            decode(data);
          } catch (e) {
            expect(e).toBeInstanceOf(CommandDecodeError);
          }
        }
      }),
    );
  });
});

describe('dataKey command (data-key-switch.ts)', () => {
  it('round-trips, is tag 7 (after the sealed tag 6), and refuses an id past a u32', () => {
    const bytes = encodeCommand({ type: 'dataKey', keyId: 0xffff_ffff });
    expect(bytes[0]).toBe(7);
    expect(decodeCommand(bytes)).toEqual({ type: 'dataKey', keyId: 0xffff_ffff });
    expect(dataKeyCommandId(bytes)).toBe(0xffff_ffff);
    expect(dataKeyCommandId(encodeCommand({ type: 'safeTs', ts: 5n }))).toBeUndefined();
    expect(() => decodeCommand(Uint8Array.from([7, 0x80, 0x80, 0x80, 0x80, 0x10]))).toThrow(CommandDecodeError);
    expect(dataKeyCommandId(Uint8Array.from([7, 0x80, 0x80, 0x80, 0x80, 0x10]))).toBeUndefined();
  });
});
