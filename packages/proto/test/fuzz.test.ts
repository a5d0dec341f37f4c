/**
 * Every reader on random and mutated bytes: it returns a value or throws `DecodeError`,
 * nothing else. Where a value decodes from all of the bytes, writing it back gives the same
 * bytes (one value, one encoding), except for labels, which are written sorted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ByteReader,
  ByteWriter,
  DecodeError,
  readKeyError,
  readKvOps,
  readLabels,
  readRegion,
  readRegionError,
  readRegionHeartbeat,
  readStoreMeta,
  readStoreStats,
  writeKeyError,
  writeKvOps,
  writeLabels,
  writeRegion,
  writeRegionError,
  writeRegionHeartbeat,
  writeStoreMeta,
  writeStoreStats,
} from '../src/index.ts';
import { arbHeartbeat, arbKvOp, arbRegion, arbStoreMeta, arbStoreStats, bytesOf, hex } from './helpers.ts';

interface Codec {
  name: string;
  read: (r: ByteReader) => unknown;
  write: (w: ByteWriter, v: never) => void;
  /** Whether decoded values re-encode to the same bytes. */
  canonical: boolean;
  valid: fc.Arbitrary<Uint8Array>;
}

const codecs: Codec[] = [
  { name: 'region', read: readRegion, write: writeRegion, canonical: true, valid: arbRegion.map((r) => bytesOf(writeRegion, r)) },
  { name: 'heartbeat', read: readRegionHeartbeat, write: writeRegionHeartbeat, canonical: true, valid: arbHeartbeat.map((h) => bytesOf(writeRegionHeartbeat, h)) },
  { name: 'store meta', read: readStoreMeta, write: writeStoreMeta, canonical: false, valid: arbStoreMeta.map((m) => bytesOf(writeStoreMeta, m)) },
  { name: 'store stats', read: readStoreStats, write: writeStoreStats, canonical: true, valid: arbStoreStats.map((s) => bytesOf(writeStoreStats, s)) },
  { name: 'labels', read: readLabels, write: writeLabels, canonical: false, valid: arbStoreMeta.map((m) => bytesOf(writeLabels, m.labels)) },
  { name: 'kv ops', read: readKvOps, write: writeKvOps, canonical: true, valid: fc.array(arbKvOp, { maxLength: 4 }).map((ops) => bytesOf(writeKvOps, ops)) },
  { name: 'region error', read: readRegionError, write: writeRegionError, canonical: true, valid: arbRegion.map((r) => bytesOf(writeRegionError, { kind: 'EpochNotMatch', currentRegions: [r] })) },
  { name: 'key error', read: readKeyError, write: writeKeyError, canonical: true, valid: fc.uint8Array({ maxLength: 4 }).map((key) => bytesOf(writeKeyError, { kind: 'TxnNotFound', startTs: 7n << 40n, primary: key })) },
];

/** Decodes `bytes` fully or throws `DecodeError`; a decoded canonical value re-encodes to `bytes`. */
function decodesOrDecodeError(c: Codec, bytes: Uint8Array): void {
  let value: unknown;
  try {
    const r = new ByteReader(bytes);
    value = c.read(r);
    r.end();
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return;
  }
  if (c.canonical) expect(hex(bytesOf(c.write, value as never))).toBe(hex(bytes));
}

const arbMutation = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom('set', 'insert', 'delete') });

function mutate(bytes: Uint8Array, ms: { at: number; byte: number; kind: string }[]): Uint8Array {
  const out = Array.from(bytes);
  for (const m of ms) {
    const i = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === 'set' && out.length > 0) out[i] = m.byte;
    else if (m.kind === 'insert') out.splice(i, 0, m.byte);
    else out.splice(i, 1);
  }
  return Uint8Array.from(out);
}

describe('readers on hostile bytes', () => {
  it.each(codecs.map((c) => [c.name, c] as const))('%s: random bytes decode or throw DecodeError', (_name, c) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => decodesOrDecodeError(c, b)),
      { numRuns: 500 },
    );
  });

  it.each(codecs.map((c) => [c.name, c] as const))('%s: mutated valid bytes decode or throw DecodeError', (_name, c) => {
    fc.assert(
      fc.property(c.valid, fc.array(arbMutation, { minLength: 1, maxLength: 3 }), (b, ms) => decodesOrDecodeError(c, mutate(b, ms))),
      { numRuns: 500 },
    );
  });
});
