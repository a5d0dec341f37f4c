/**
 * Key-value mutations and their codec: what a write command carries in a region's Raft log
 * and what a write request carries on the store RPC.
 *
 * Op tags (append only; old logs must keep decoding):
 * - 1 put, 2 delete, 3 deleteRange: an op in the `default` column family, no cf on the wire
 *   (the only tags written before column families existed, so old logs decode unchanged);
 * - 4 put, 5 delete, 6 deleteRange: the same op preceded by its column family name, used
 *   only when `cf` is present and not `default`.
 * An op in `default` is always written with tags 1..3, so one op has one encoding; it
 * decodes with `cf: 'default'`. Every op names its column family: no path can drop one.
 */
import type { ByteReader, ByteWriter } from './bytes.ts';
import { DecodeError } from './errors.ts';
import { CF_NAME_BYTES_MAX, CF_NAME_LENGTH_MAX, KEY_BYTES_MAX, OPS_MAX, VALUE_BYTES_MAX } from './limits.ts';

/** The column family of user values (raw data model) and of MVCC values. */
export const DEFAULT_CF = 'default';

/** One key-value mutation, in column family `cf`. */
export type KvOp =
  | { type: 'put'; cf: string; key: Uint8Array; value: Uint8Array }
  | { type: 'delete'; cf: string; key: Uint8Array }
  | { type: 'deleteRange'; cf: string; start: Uint8Array; end: Uint8Array };

/** Wire tags of ops in `default` (no cf on the wire). */
const OP_TAGS = { put: 1, delete: 2, deleteRange: 3 } as const;
/** Added to an op's tag when its column family name precedes it. */
const CF_TAG_OFFSET = 3;
/** Fewest bytes an op takes (a tag and an empty key). */
const OP_BYTES_MIN = 2;

/** Whether `cf` is a valid column family name: 1..`CF_NAME_LENGTH_MAX` UTF-16 code units. */
export function isCfName(cf: string): boolean {
  return cf.length > 0 && cf.length <= CF_NAME_LENGTH_MAX;
}

/** Writes one op: its tag, its cf when not `default`, its keys and value (paired with `readKvOp`). */
export function writeKvOp(w: ByteWriter, op: KvOp): void {
  const cf = op.cf;
  if (cf === DEFAULT_CF) {
    w.varUint(OP_TAGS[op.type]);
  } else {
    if (!isCfName(cf)) throw new RangeError(`column family name of ${cf.length} characters, not 1..${CF_NAME_LENGTH_MAX}`);
    w.varUint(OP_TAGS[op.type] + CF_TAG_OFFSET);
    w.string(cf);
  }
  if (op.type === 'put') {
    w.bytes(op.key);
    w.bytes(op.value);
  } else if (op.type === 'delete') {
    w.bytes(op.key);
  } else {
    w.bytes(op.start);
    w.bytes(op.end);
  }
}

function readCf(r: ByteReader): string {
  const cf = r.string(CF_NAME_BYTES_MAX, 'column family');
  if (!isCfName(cf)) throw new DecodeError('InvalidValue', `column family name of ${cf.length} characters`);
  if (cf === DEFAULT_CF) throw new DecodeError('InvalidValue', `'${DEFAULT_CF}' is written without its name`);
  return cf;
}

/** Reads an op written by `writeKvOp`; an unknown tag is `UnknownTag`. */
export function readKvOp(r: ByteReader): KvOp {
  const tag = r.varUint();
  if (tag < OP_TAGS.put || tag > OP_TAGS.deleteRange + CF_TAG_OFFSET) throw new DecodeError('UnknownTag', `op type ${tag}`);
  const cf = { cf: tag > CF_TAG_OFFSET ? readCf(r) : DEFAULT_CF };
  const type = tag > CF_TAG_OFFSET ? tag - CF_TAG_OFFSET : tag;
  if (type === OP_TAGS.put) {
    const key = r.bytes(KEY_BYTES_MAX, 'key');
    return { type: 'put', ...cf, key, value: r.bytes(VALUE_BYTES_MAX, 'value') };
  }
  if (type === OP_TAGS.delete) return { type: 'delete', ...cf, key: r.bytes(KEY_BYTES_MAX, 'key') };
  const start = r.bytes(KEY_BYTES_MAX, 'start');
  return { type: 'deleteRange', ...cf, start, end: r.bytes(KEY_BYTES_MAX, 'end') };
}

/** Writes a count, then each op (paired with `readKvOps`). */
export function writeKvOps(w: ByteWriter, ops: readonly KvOp[]): void {
  w.varUint(ops.length);
  for (const op of ops) writeKvOp(w, op);
}

/** Reads ops written by `writeKvOps` (at most `OPS_MAX`). */
export function readKvOps(r: ByteReader): KvOp[] {
  const n = r.count(OPS_MAX, OP_BYTES_MIN, 'ops');
  const ops: KvOp[] = [];
  for (let i = 0; i < n; i++) ops.push(readKvOp(r));
  return ops;
}
