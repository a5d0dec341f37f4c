import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MESSAGE_TYPES, makeMessage } from '@peerkv/raft';
import type { Message } from '@peerkv/raft';
import { ByteReader, ByteWriter } from '@peerkv/proto';
import { readEnvelope, writeEnvelope } from '../src/codec/envelope.ts';
import { DecodeError } from '../src/codec/errors.ts';
import type { Frame } from '../src/codec/frame.ts';
import { encodeFrame, FRAME_TYPES, readFrame } from '../src/codec/frame.ts';
import { DEFAULT_DECODE_LIMITS } from '../src/codec/limits.ts';
import { readMessage, writeMessage } from '../src/codec/raft.ts';
import { arbFrame, arbMessageOf, arbRegionMessage } from './arbitraries.ts';

function roundTripMessage(m: Message): Message {
  const w = new ByteWriter();
  writeMessage(w, m);
  const r = new ByteReader(w.finish());
  const out = readMessage(r, DEFAULT_DECODE_LIMITS);
  r.end('message');
  return out;
}

function decodeErrorKind(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeError) return e.kind;
    throw e;
  }
  return 'none';
}

describe('raft message codec', () => {
  for (const type of MESSAGE_TYPES) {
    it(`round-trips ${type}`, () => {
      fc.assert(fc.property(arbMessageOf(type), (m) => { expect(roundTripMessage(m)).toEqual(m); }), { numRuns: 60 });
    });
  }

  it('writes the message type as the first varUint, in MESSAGE_TYPES order', () => {
    MESSAGE_TYPES.forEach((type, i) => {
      const w = new ByteWriter();
      writeMessage(w, makeMessage({ type }));
      expect(new ByteReader(w.finish()).varUint()).toBe(i);
    });
  });

  it('keeps conf-change entries, snapshot metadata and read-index context intact', () => {
    const m = makeMessage({
      type: 'MsgSnap',
      entries: [{ term: 3, index: 9, type: 'confChange', data: new Uint8Array([1, 2, 3]) }],
      snapshot: {
        data: new Uint8Array([9, 9]),
        metadata: { index: 8, term: 3, confState: { voters: [1, 2], learners: [3], votersOutgoing: [1], learnersNext: [2], autoLeave: true } },
      },
      context: new TextEncoder().encode('read-ctx'),
    });
    expect(roundTripMessage(m)).toEqual(m);
  });

  it('rejects an unknown message type with a DecodeError', () => {
    const w = new ByteWriter();
    w.varUint(MESSAGE_TYPES.length);
    expect(decodeErrorKind(() => readMessage(new ByteReader(w.finish()), DEFAULT_DECODE_LIMITS))).toBe('UnknownMessageType');
  });
});

describe('envelope and frames', () => {
  it('round-trips an envelope with its region epoch', () => {
    fc.assert(
      fc.property(arbRegionMessage, fc.string({ maxLength: 20 }), fc.nat(), fc.nat(), (m, clusterId, from, to) => {
        const env = { clusterId, fromStoreId: from, toStoreId: to, ...m };
        const w = new ByteWriter();
        writeEnvelope(w, env);
        expect(readEnvelope(new ByteReader(w.finish()), DEFAULT_DECODE_LIMITS)).toEqual(env);
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips every frame type', () => {
    fc.assert(fc.property(arbFrame, (f) => { expect(readFrame(encodeFrame(f))).toEqual(f); }), { numRuns: 300 });
  });

  it('rejects an unknown frame type and an unknown version', () => {
    const w = new ByteWriter();
    w.varUint(99);
    w.varUint(1);
    expect(decodeErrorKind(() => readFrame(w.finish()))).toBe('UnknownFrameType');
    const v = new ByteWriter();
    v.varUint(FRAME_TYPES.raftBatch);
    v.varUint(2);
    expect(decodeErrorKind(() => readFrame(v.finish()))).toBe('UnsupportedVersion');
  });

  it('rejects trailing bytes, truncation and lengths beyond the remaining bytes', () => {
    const f: Frame = { type: 'authProof', proof: new Uint8Array(32) };
    const bytes = encodeFrame(f);
    expect(decodeErrorKind(() => readFrame(new Uint8Array([...bytes, 0])))).toBe('TrailingBytes');
    expect(decodeErrorKind(() => readFrame(bytes.subarray(0, bytes.length - 1)))).toBe('Truncated');
    const w = new ByteWriter();
    w.varUint(FRAME_TYPES.raftBatch);
    w.varUint(1);
    w.string('c');
    w.varUint(1);
    w.varUint(2);
    w.varUint(4000); // claims 4000 messages in a few bytes
    expect(decodeErrorKind(() => readFrame(w.finish()))).toBe('Truncated');
  });

  it('enforces named limits before allocating', () => {
    const w = new ByteWriter();
    w.varUint(FRAME_TYPES.raftBatch);
    w.varUint(1);
    w.string('c');
    w.varUint(1);
    w.varUint(2);
    w.varUint(DEFAULT_DECODE_LIMITS.messagesPerBatchMax + 1);
    expect(decodeErrorKind(() => readFrame(w.finish()))).toBe('LimitExceeded');
    const big = new ByteWriter();
    big.varUint(FRAME_TYPES.authProof);
    big.varUint(1);
    big.varUint(Number.MAX_SAFE_INTEGER); // a byte length no buffer could hold
    expect(decodeErrorKind(() => readFrame(big.finish()))).toBe('LimitExceeded');
  });

  it('rejects overlong and oversized varUints', () => {
    const r = new ByteReader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(decodeErrorKind(() => r.varUint())).toBe('VarUintOverflow');
    const big = new ByteReader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    expect(decodeErrorKind(() => big.varUint())).toBe('VarUintOverflow');
  });

  it('rejects invalid UTF-8 in the cluster id', () => {
    const w = new ByteWriter();
    w.varUint(FRAME_TYPES.authHello);
    w.varUint(1);
    w.bytes(new Uint8Array([0xc3, 0x28]));
    expect(decodeErrorKind(() => readFrame(w.finish()))).toBe('InvalidUtf8');
  });

  it('round-trips varUints across the safe-integer range', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const w = new ByteWriter();
        w.varUint(n);
        expect(new ByteReader(w.finish()).varUint()).toBe(n);
      }),
    );
  });
});
