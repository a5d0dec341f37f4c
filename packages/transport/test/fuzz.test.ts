/**
 * Fuzzing the decoder: random bytes and mutated valid frames must decode or throw
 * `DecodeError`, nothing else, and never allocate beyond the limits (lengths are checked
 * against the remaining bytes first, so every run stays small and fast).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Reassembler, encodePackets, DEFAULT_CHUNK_LIMITS } from '../src/chunking.ts';
import { DecodeError } from '../src/codec/errors.ts';
import { encodeFrame, readFrame } from '../src/codec/frame.ts';
import { arbFrame } from './arbitraries.ts';

type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; value: number } | { kind: 'big'; at: number };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('big' as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = [...bytes];
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value;
    else if (m.kind === 'cut') b = b.slice(0, at);
    else if (m.kind === 'insert') b.splice(at, 0, m.value);
    else b.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f); // a huge varUint length
  }
  return new Uint8Array(b);
}

function decodesOrDecodeError(bytes: Uint8Array): void {
  try {
    readFrame(bytes);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
}

describe('decoder fuzzing', () => {
  it('random bytes decode or throw DecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => decodesOrDecodeError(b)), { numRuns: 3000 });
  });

  it('mutated valid frames decode or throw DecodeError', () => {
    fc.assert(
      fc.property(arbFrame, fc.array(arbMutation, { minLength: 1, maxLength: 4 }), (f, ms) => decodesOrDecodeError(mutate(encodeFrame(f), ms))),
      { numRuns: 3000 },
    );
  });

  it('the reassembler never throws and never holds more than the limits allow', () => {
    const limits = { chunkBytesMax: 64, frameBytesMax: 1024, pendingChunksMax: 40 };
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 30 }), (packets) => {
        const r = new Reassembler(limits);
        for (const p of packets) {
          const out = r.push(p);
          if (out.kind === 'frame') expect(out.bytes.length).toBeLessThanOrEqual(limits.frameBytesMax);
          expect(r.pendingChunks).toBeLessThanOrEqual(limits.pendingChunksMax);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated chunk streams reassemble, stay pending, or report a violation', () => {
    fc.assert(
      fc.property(arbFrame, fc.array(arbMutation, { maxLength: 3 }), fc.nat(), (f, ms, which) => {
        const packets = encodePackets(f, 48);
        const i = which % packets.length;
        packets[i] = mutate(packets[i], ms);
        const r = new Reassembler({ ...DEFAULT_CHUNK_LIMITS, chunkBytesMax: 48 });
        for (const p of packets) {
          const out = r.push(p);
          if (out.kind === 'violation') return;
          if (out.kind === 'frame') decodesOrDecodeError(out.bytes);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('link fuzzing', () => {
  it('random packets on an authenticated link are delivered, or drop the link with a counted reason; nothing throws', async () => {
    const { connect, TestTransport, testKeys, until } = await import('./helpers.ts');
    const keys = await testKeys('fz', 'pw');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), arbFrame.map((f) => encodePackets(f, 16 * 1024)[0])), { minLength: 1, maxLength: 8 }), async (packets) => {
        const a = new TestTransport({ localStoreId: 1, keys });
        const b = new TestTransport({ localStoreId: 2, keys });
        const [la] = connect(a, b);
        await until(() => b.peers().length === 1 && a.peers().length === 1);
        for (const p of packets) la.send(p);
        await new Promise((r) => setTimeout(r, 0));
        const d = b.counters().drops;
        const counted = d.decodeError + d.reassembly + d.authFailed + d.foreignCluster + d.storeMismatch + d.misaddressed;
        expect(b.peers().length === 1 || counted > 0).toBe(true);
        a.close();
        b.close();
      }),
      { numRuns: 60 },
    );
  });
});
