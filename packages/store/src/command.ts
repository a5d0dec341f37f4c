/**
 * The commands a region's Raft log carries, and their binary codec (paired write/read; the
 * first varUint is the command type; unknown types throw `CommandDecodeError`).
 *
 * Every write carries (clientId, seq) so a retried request is applied at most once.
 */
import {
  ByteReader,
  ByteWriter,
  KEY_BYTES_MAX,
  OPS_MAX,
  PEERS_MAX,
  VALUE_BYTES_MAX,
  decode,
  decodeRegion as decodeRegionBytes,
  encode,
  readKvOps,
  readPeerIds,
  readPeers,
  readTimestamp,
  writeKvOps,
  writePeerIds,
  writePeers,
  writeTimestamp,
  type KvOp,
  type Peer,
  type Region,
} from '@peerkv/proto';

// The ops, peers and regions a command carries have their one encoding in @peerkv/proto;
// re-exported under the names this module always had, so its users keep compiling.
export type { KvOp } from '@peerkv/proto';
export { encodeRegion, readPeer, readPeers, readRegion, writePeer, writePeers, writeRegion } from '@peerkv/proto';
export { readKvOps as readOps, writeKvOps as writeOps } from '@peerkv/proto';

/** Bounds checked while decoding a command, in their units (`@peerkv/proto`'s limits). */
export const COMMAND_KEY_BYTES_MAX = KEY_BYTES_MAX;
export const COMMAND_VALUE_BYTES_MAX = VALUE_BYTES_MAX;
export const COMMAND_OPS_MAX = OPS_MAX;
export const COMMAND_PEERS_MAX = PEERS_MAX;
/** Bytes of a write's client id. */
const STRING_BYTES_MAX = 256;

/** A batch of mutations applied atomically, deduplicated by (clientId, seq) (see dedup.ts). */
export interface WriteCommand {
  type: 'write';
  clientId: string;
  seq: number;
  /** The client has a final answer for every seq below this (its completion records may go). */
  ackFloor: number;
  /** The proposing leader's clock, ms: client leases are measured in it, the same on every replica. */
  stampMs: number;
  ops: KvOp[];
}

/** Split the region at `splitKey`: the right half becomes `newRegionId` with `newPeerIds` (same stores, same order as the parent's peers). */
export interface SplitCommand {
  type: 'split';
  splitKey: Uint8Array;
  newRegionId: number;
  newPeerIds: number[];
}

/**
 * The writes of one transactional action (prewrite, commit, rollback, ...), computed by the
 * leader's txn scheduler on an engine snapshot under its latches: `KvOp`s across the txn
 * column families (`default`, `lock`, `write`), applied all or none. No (clientId, seq):
 * Percolator's start ts makes every action idempotent, so a retry recomputes and rewrites the
 * same records (or nothing).
 */
export interface TxnCommand {
  type: 'txn';
  ops: KvOp[];
}

/**
 * The region's resolved ts (`txn/resolved-ts.ts`): no transaction can commit at or below `ts`
 * in this region after this entry, and every one that committed there is in the log before
 * it. A replica that applied it serves reads at or below `ts` from its own state, with no
 * leader and no quorum (stale reads). Proposed by the leader of an mvcc region.
 */
export interface SafeTsCommand {
  type: 'safeTs';
  ts: bigint;
}

/**
 * A data-key switch (a rotation, `data-key-switch.ts`): entries of this region after this one
 * are sealed under data key `keyId` (or a later one). Never sealed itself: it names a key id,
 * not user data, so a replica that cannot derive the key still sees which one it lacks.
 */
export interface DataKeyCommand {
  type: 'dataKey';
  keyId: number;
}

/** What a data region's Raft log entry (a normal one) carries. */
export type Command = WriteCommand | SplitCommand | TxnCommand | SafeTsCommand | DataKeyCommand;

/** Context carried by a conf change entry: which peers (with stores) the change concerns. */
export interface ConfChangeContext {
  peers: Peer[];
}

/** Thrown by every decoder here on bad bytes (the codec's `DecodeError`s are wrapped in it). */
export class CommandDecodeError extends Error {
  override readonly name: string = 'CommandDecodeError';
}

const enum Tag {
  /** A write without ackFloor and stampMs (logs written before they existed; read as 0). */
  WriteV1 = 1,
  Split = 2,
  Write = 3,
  Txn = 4,
  SafeTs = 5,
  // 6 is sealing.ts's SEALED_TAG.
  DataKey = 7,
}

/** A command as the bytes of a Raft log entry (paired with `decodeCommand`). */
export function encodeCommand(cmd: Command): Uint8Array {
  const w = new ByteWriter();
  if (cmd.type === 'write') writeWrite(w, cmd);
  else if (cmd.type === 'txn') writeTxn(w, cmd);
  else if (cmd.type === 'safeTs') {
    w.varUint(Tag.SafeTs);
    writeTimestamp(w, cmd.ts);
  } else if (cmd.type === 'dataKey') {
    w.varUint(Tag.DataKey);
    w.varUint(cmd.keyId);
  } else writeSplit(w, cmd);
  return w.finish();
}

/** Reads bytes written by `encodeCommand`; throws `CommandDecodeError` on bad bytes. */
export function decodeCommand(data: Uint8Array): Command {
  try {
    const r = new ByteReader(data);
    const tag = r.varUint();
    let cmd: Command;
    if (tag === Tag.Write) cmd = readWrite(r);
    else if (tag === Tag.WriteV1) cmd = readWriteV1(r);
    else if (tag === Tag.Split) cmd = readSplit(r);
    else if (tag === Tag.Txn) cmd = { type: 'txn', ops: readKvOps(r) };
    else if (tag === Tag.SafeTs) cmd = { type: 'safeTs', ts: readTimestamp(r) };
    else if (tag === Tag.DataKey) cmd = readDataKey(r);
    else throw new CommandDecodeError(`unknown command type ${tag}`);
    r.end('command');
    return cmd;
  } catch (e) {
    if (e instanceof CommandDecodeError) throw e;
    throw new CommandDecodeError((e as Error).message);
  }
}

function writeWrite(w: ByteWriter, c: WriteCommand): void {
  w.varUint(Tag.Write);
  w.string(c.clientId);
  w.varUint(c.seq);
  w.varUint(c.ackFloor);
  w.varUint(c.stampMs);
  writeKvOps(w, c.ops);
}

function readWrite(r: ByteReader): WriteCommand {
  const clientId = r.string(STRING_BYTES_MAX, 'client id');
  const seq = r.varUint();
  const ackFloor = r.varUint();
  const stampMs = r.varUint();
  return { type: 'write', clientId, seq, ackFloor, stampMs, ops: readKvOps(r) };
}

function readWriteV1(r: ByteReader): WriteCommand {
  const clientId = r.string(STRING_BYTES_MAX, 'client id');
  const seq = r.varUint();
  return { type: 'write', clientId, seq, ackFloor: 0, stampMs: 0, ops: readKvOps(r) };
}

function readDataKey(r: ByteReader): DataKeyCommand {
  const keyId = r.varUint();
  if (keyId > DATA_KEY_COMMAND_ID_MAX) throw new CommandDecodeError(`a data key id is at most ${DATA_KEY_COMMAND_ID_MAX}, got ${keyId}`);
  return { type: 'dataKey', keyId };
}

/** Highest key id a `dataKey` command carries (sealing.ts's `SEAL_KEY_ID_MAX`, a u32). */
export const DATA_KEY_COMMAND_ID_MAX = 0xffff_ffff;

/** The key id of a `dataKey` command's bytes, or undefined for any other payload. */
export function dataKeyCommandId(data: Uint8Array): number | undefined {
  if (data.length < 2 || data[0] !== Tag.DataKey) return undefined;
  try {
    const cmd = decodeCommand(data);
    return cmd.type === 'dataKey' ? cmd.keyId : undefined;
  } catch (e) {
    if (e instanceof CommandDecodeError) return undefined;
    throw e;
  }
}

function writeTxn(w: ByteWriter, c: TxnCommand): void {
  w.varUint(Tag.Txn);
  writeKvOps(w, c.ops);
}

function writeSplit(w: ByteWriter, c: SplitCommand): void {
  w.varUint(Tag.Split);
  w.bytes(c.splitKey);
  w.varUint(c.newRegionId);
  writePeerIds(w, c.newPeerIds);
}

function readSplit(r: ByteReader): SplitCommand {
  const splitKey = r.bytes(COMMAND_KEY_BYTES_MAX, 'split key');
  const newRegionId = r.varUint();
  return { type: 'split', splitKey, newRegionId, newPeerIds: readPeerIds(r) };
}

/** A conf change entry's context as bytes: its peers (paired with `decodeConfChangeContext`). */
export function encodeConfChangeContext(ctx: ConfChangeContext): Uint8Array {
  return encode(ctx.peers, writePeers);
}

/** Reads bytes written by `encodeConfChangeContext`; throws `CommandDecodeError` on bad bytes. */
export function decodeConfChangeContext(data: Uint8Array): ConfChangeContext {
  try {
    return { peers: decode(data, readPeers, 'conf change context') };
  } catch (e) {
    throw new CommandDecodeError((e as Error).message);
  }
}

/** Reads bytes written by `encodeRegion`; throws `CommandDecodeError` on bad bytes. */
export function decodeRegion(data: Uint8Array): Region {
  try {
    return decodeRegionBytes(data);
  } catch (e) {
    throw new CommandDecodeError((e as Error).message);
  }
}
