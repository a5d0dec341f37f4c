/**
 * Values of the Raft log store, each sealed with a CRC32C over its key and payload: a
 * flipped byte, a truncated value or a record moved under another key fails the check and
 * raises `StorageCorruption` naming the region and index; bad data is never returned.
 *
 * Value layout: `[crc32c:4][recordKind:1][fields...]`, integers big-endian.
 */
import type { ConfState, Entry, HardState, SnapshotMetadata } from '@peerkv/raft';
import { readU64, writeU64 } from '../bytes.ts';
import { crc32c } from '../crc32c.ts';
import { StorageCorruption, type CorruptRecord } from '../errors.ts';

/** What the state machine has applied (TiKV's `RaftApplyState`). */
export interface ApplyState {
  appliedIndex: number;
}

/** Index and term of the last entry removed by compaction or replaced by a snapshot. */
export interface TruncatedState {
  index: number;
  term: number;
}

const KIND: Record<CorruptRecord | 'snapshotData', number> = {
  entry: 1,
  hardState: 2,
  applyState: 3,
  truncatedState: 4,
  snapshot: 5,
  snapshotData: 6,
};
const CRC_BYTES = 4;
const ENTRY_HEADER_BYTES = CRC_BYTES + 1 + 1 + 8;

/** Where a decoded value came from, for the corruption report. */
interface Origin {
  regionId: number;
  record: CorruptRecord;
  index?: number;
}

function seal(key: Uint8Array, value: Uint8Array): Uint8Array {
  const crc = crc32c(value.subarray(CRC_BYTES), crc32c(key));
  new DataView(value.buffer, value.byteOffset).setUint32(0, crc);
  return value;
}

/** Verifies the checksum and the record kind; returns a view over the whole value. */
function unseal(key: Uint8Array, value: Uint8Array, kind: number, minBytes: number, origin: Origin): DataView {
  const corrupt = (detail: string): StorageCorruption => new StorageCorruption(origin.regionId, origin.record, origin.index, detail);
  if (value.length < Math.max(minBytes, CRC_BYTES + 1)) throw corrupt(`value of ${value.length} bytes is too short`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const expected = view.getUint32(0);
  const actual = crc32c(value.subarray(CRC_BYTES), crc32c(key));
  if (expected !== actual) throw corrupt(`checksum mismatch (stored ${expected.toString(16)}, computed ${actual.toString(16)})`);
  if (value[CRC_BYTES] !== kind) throw corrupt(`record kind ${value[CRC_BYTES]}, expected ${kind}`);
  return view;
}

const ENTRY_TYPES = ['normal', 'confChange'] as const;

/** The stored value of `entry` under `key`. */
export function encodeEntry(key: Uint8Array, entry: Entry): Uint8Array {
  const value = new Uint8Array(ENTRY_HEADER_BYTES + entry.data.length);
  const view = new DataView(value.buffer);
  value[4] = KIND.entry;
  value[5] = entry.type === 'normal' ? 0 : 1;
  writeU64(view, 6, entry.term);
  value.set(entry.data, ENTRY_HEADER_BYTES);
  return seal(key, value);
}

/** Decodes and verifies entry `index` of `regionId`. */
export function decodeEntry(regionId: number, index: number, key: Uint8Array, value: Uint8Array): Entry {
  const origin: Origin = { regionId, record: 'entry', index };
  const view = unseal(key, value, KIND.entry, ENTRY_HEADER_BYTES, origin);
  const type = ENTRY_TYPES[value[5]];
  if (type === undefined) throw new StorageCorruption(regionId, 'entry', index, `entry type ${value[5]}`);
  return { index, term: readU64(view, 6), type, data: value.slice(ENTRY_HEADER_BYTES) };
}

function encodeU64s(key: Uint8Array, kind: number, fields: number[]): Uint8Array {
  const value = new Uint8Array(CRC_BYTES + 1 + 8 * fields.length);
  const view = new DataView(value.buffer);
  value[4] = kind;
  fields.forEach((f, i) => writeU64(view, 5 + 8 * i, f));
  return seal(key, value);
}

function decodeU64s(key: Uint8Array, value: Uint8Array, kind: number, count: number, origin: Origin): number[] {
  const view = unseal(key, value, kind, CRC_BYTES + 1 + 8 * count, origin);
  return Array.from({ length: count }, (_, i) => readU64(view, 5 + 8 * i));
}

/** The stored value of a hard state. */
export function encodeHardState(key: Uint8Array, hs: HardState): Uint8Array {
  return encodeU64s(key, KIND.hardState, [hs.term, hs.vote, hs.commit]);
}

/** Decodes and verifies a hard state. */
export function decodeHardState(regionId: number, key: Uint8Array, value: Uint8Array): HardState {
  const [term, vote, commit] = decodeU64s(key, value, KIND.hardState, 3, { regionId, record: 'hardState' });
  return { term, vote, commit };
}

/** The stored value of an apply state. */
export function encodeApplyState(key: Uint8Array, s: ApplyState): Uint8Array {
  return encodeU64s(key, KIND.applyState, [s.appliedIndex]);
}

/** Decodes and verifies an apply state. */
export function decodeApplyState(regionId: number, key: Uint8Array, value: Uint8Array): ApplyState {
  const [appliedIndex] = decodeU64s(key, value, KIND.applyState, 1, { regionId, record: 'applyState' });
  return { appliedIndex };
}

/** The stored value of a truncated state. */
export function encodeTruncatedState(key: Uint8Array, s: TruncatedState): Uint8Array {
  return encodeU64s(key, KIND.truncatedState, [s.index, s.term]);
}

/** Decodes and verifies a truncated state. */
export function decodeTruncatedState(regionId: number, key: Uint8Array, value: Uint8Array): TruncatedState {
  const [index, term] = decodeU64s(key, value, KIND.truncatedState, 2, { regionId, record: 'truncatedState' });
  return { index, term };
}

const CONF_LISTS = ['voters', 'learners', 'votersOutgoing', 'learnersNext'] as const;

/** The stored value of snapshot metadata (conf state included). */
export function encodeSnapshotMetadata(key: Uint8Array, m: SnapshotMetadata): Uint8Array {
  const ids = CONF_LISTS.reduce((n, l) => n + m.confState[l].length, 0);
  const value = new Uint8Array(CRC_BYTES + 1 + 16 + 1 + 4 * CONF_LISTS.length + 8 * ids);
  const view = new DataView(value.buffer);
  value[4] = KIND.snapshot;
  writeU64(view, 5, m.index);
  writeU64(view, 13, m.term);
  value[21] = m.confState.autoLeave ? 1 : 0;
  let at = 22;
  for (const list of CONF_LISTS) {
    view.setUint32(at, m.confState[list].length);
    at += 4;
    for (const id of m.confState[list]) {
      writeU64(view, at, id);
      at += 8;
    }
  }
  return seal(key, value);
}

/** Decodes and verifies snapshot metadata. */
export function decodeSnapshotMetadata(regionId: number, key: Uint8Array, value: Uint8Array): SnapshotMetadata {
  const view = unseal(key, value, KIND.snapshot, 22 + 4 * CONF_LISTS.length, { regionId, record: 'snapshot' });
  const confState = { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: value[21] === 1 } as ConfState;
  let at = 22;
  for (const list of CONF_LISTS) {
    const count = view.getUint32(at);
    at += 4;
    if (at + 8 * count > value.length) throw new StorageCorruption(regionId, 'snapshot', undefined, `conf list ${list} overruns the value`);
    for (let i = 0; i < count; i++, at += 8) confState[list].push(readU64(view, at));
  }
  return { index: readU64(view, 5), term: readU64(view, 13), confState };
}

/** The stored value of snapshot data. */
export function encodeSnapshotData(key: Uint8Array, data: Uint8Array): Uint8Array {
  const value = new Uint8Array(CRC_BYTES + 1 + data.length);
  value[4] = KIND.snapshotData;
  value.set(data, 5);
  return seal(key, value);
}

/** Decodes and verifies snapshot data. */
export function decodeSnapshotData(regionId: number, key: Uint8Array, value: Uint8Array): Uint8Array {
  unseal(key, value, KIND.snapshotData, 5, { regionId, record: 'snapshot' });
  return value.slice(5);
}
