/**
 * The fields the txn request and answer codecs share (`codec.ts`): keys, optional timestamps
 * and bytes, the region header, the request timeout, mutations and the commit mode, each a
 * paired write/read.
 */
import { readEnum, readTimestamp, writeEnum, writeTimestamp, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { Mutation } from '@peerkv/txn';
import { RPC_KEY_BYTES_MAX, RPC_VALUE_BYTES_MAX, readEpoch, writeEpoch } from '../rpc/wire.ts';
import { BYPASS_LOCKS_MAX } from './check.ts';
import type { TxnCommitMode } from './types.ts';

/** Mutations or keys in one request on the wire (the core's `MUTATIONS_MAX` and `SECONDARIES_MAX` bound them again). */
export const TXN_KEYS_MAX = 4096;

export function writeKeys(w: ByteWriter, keys: readonly Uint8Array[]): void {
  w.varUint(keys.length);
  for (const k of keys) w.bytes(k);
}

export function readKeys(r: ByteReader, what: string): Uint8Array[] {
  const n = r.count(TXN_KEYS_MAX, 1, what);
  return Array.from({ length: n }, () => r.bytes(RPC_KEY_BYTES_MAX, what));
}

export function writeOptTs(w: ByteWriter, ts: bigint | undefined): void {
  w.u8(ts === undefined ? 0 : 1);
  if (ts !== undefined) writeTimestamp(w, ts);
}

export function readOptTs(r: ByteReader): bigint | undefined {
  return r.bool() ? readTimestamp(r) : undefined;
}

export function writeOptBytes(w: ByteWriter, b: Uint8Array | undefined): void {
  w.u8(b === undefined ? 0 : 1);
  if (b !== undefined) w.bytes(b);
}

export function readOptBytes(r: ByteReader, max: number, what: string): Uint8Array | undefined {
  return r.bool() ? r.bytes(max, what) : undefined;
}

export function writeTsList(w: ByteWriter, list: readonly bigint[] | undefined): void {
  w.varUint(list?.length ?? 0);
  for (const t of list ?? []) writeTimestamp(w, t);
}

export function readTsList(r: ByteReader): bigint[] | undefined {
  const n = r.count(BYPASS_LOCKS_MAX, 2, 'bypass locks');
  return n === 0 ? undefined : Array.from({ length: n }, () => readTimestamp(r));
}

/** `timeoutMs` as `varUint(ms + 1)`, 0 when absent (as every timed request). */
export function writeTimeout(w: ByteWriter, t: { timeoutMs?: number }): void {
  w.varUint(t.timeoutMs === undefined ? 0 : Math.max(0, Math.floor(t.timeoutMs)) + 1);
}

export function readTimeout(r: ByteReader): { timeoutMs?: number } {
  const v = r.varUint();
  return v === 0 ? {} : { timeoutMs: v - 1 };
}

/** The region a txn request is for: its id and epoch (not a `Region`: proto's `writeRegion` writes those). */
export function writeRegionTarget(w: ByteWriter, q: { regionId: number; epoch: { confVer: number; version: number } }): void {
  w.varUint(q.regionId);
  writeEpoch(w, q.epoch);
}

export function readRegionTarget(r: ByteReader): { regionId: number; epoch: { confVer: number; version: number } } {
  const regionId = r.varUint();
  return { regionId, epoch: readEpoch(r) };
}

const MUTATION_OPS: readonly Mutation['op'][] = ['put', 'delete', 'lock', 'insert', 'checkNotExists'];

export function writeMutation(w: ByteWriter, m: Mutation): void {
  writeEnum(w, MUTATION_OPS, m.op);
  w.bytes(m.key);
  if (m.op === 'put' || m.op === 'insert') w.bytes(m.value);
  w.u8(m.pessimistic ? 1 : 0);
}

export function readMutation(r: ByteReader): Mutation {
  const op = readEnum(r, MUTATION_OPS, 'mutation op');
  const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
  const m: Mutation = op === 'put' || op === 'insert' ? { op, key, value: r.bytes(RPC_VALUE_BYTES_MAX, 'value') } : { op, key };
  if (r.bool()) m.pessimistic = true;
  return m;
}

const MODE_KINDS: readonly TxnCommitMode['kind'][] = ['twoPc', 'asyncCommit', 'onePc'];

export function writeMode(w: ByteWriter, m: TxnCommitMode): void {
  writeEnum(w, MODE_KINDS, m.kind);
  if (m.kind === 'asyncCommit') writeKeys(w, m.secondaries);
}

export function readMode(r: ByteReader): TxnCommitMode {
  const kind = readEnum(r, MODE_KINDS, 'commit mode');
  return kind === 'asyncCommit' ? { kind, secondaries: readKeys(r, 'secondaries') } : { kind };
}
