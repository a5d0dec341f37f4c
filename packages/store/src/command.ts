/**
 * The commands a region's Raft log carries, and their binary codec (paired write/read; the
 * first varUint is the command type; unknown types throw `CommandDecodeError`).
 *
 * Every write carries (clientId, seq) so a retried request is applied at most once.
 */
import { ByteReader, ByteWriter } from '@peerkv/transport';
import type { Peer, PeerRole, Region } from '@peerkv/pd';

/** Bounds checked while decoding a command, in their units. */
export const COMMAND_KEY_BYTES_MAX = 64 * 1024;
export const COMMAND_VALUE_BYTES_MAX = 8 * 1024 * 1024;
export const COMMAND_OPS_MAX = 4096;
export const COMMAND_PEERS_MAX = 64;
const STRING_BYTES_MAX = 256;

/** One key-value mutation. */
export type KvOp =
  | { type: 'put'; key: Uint8Array; value: Uint8Array }
  | { type: 'delete'; key: Uint8Array }
  | { type: 'deleteRange'; start: Uint8Array; end: Uint8Array };

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

export type Command = WriteCommand | SplitCommand;

/** Context carried by a conf change entry: which peers (with stores) the change concerns. */
export interface ConfChangeContext {
  peers: Peer[];
}

export class CommandDecodeError extends Error {
  override readonly name = 'CommandDecodeError';
}

const enum Tag {
  /** A write without ackFloor and stampMs (logs written before they existed; read as 0). */
  WriteV1 = 1,
  Split = 2,
  Write = 3,
}

const OP_TAGS = { put: 1, delete: 2, deleteRange: 3 } as const;
const ROLES: PeerRole[] = ['voter', 'learner', 'incomingVoter', 'demotingVoter'];

export function encodeCommand(cmd: Command): Uint8Array {
  const w = new ByteWriter();
  if (cmd.type === 'write') writeWrite(w, cmd);
  else writeSplit(w, cmd);
  return w.finish();
}

export function decodeCommand(data: Uint8Array): Command {
  try {
    const r = new ByteReader(data);
    const tag = r.varUint();
    let cmd: Command;
    if (tag === Tag.Write) cmd = readWrite(r);
    else if (tag === Tag.WriteV1) cmd = readWriteV1(r);
    else if (tag === Tag.Split) cmd = readSplit(r);
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
  writeOps(w, c.ops);
}

function readWrite(r: ByteReader): WriteCommand {
  const clientId = r.string(STRING_BYTES_MAX, 'client id');
  const seq = r.varUint();
  const ackFloor = r.varUint();
  const stampMs = r.varUint();
  return { type: 'write', clientId, seq, ackFloor, stampMs, ops: readOps(r) };
}

function readWriteV1(r: ByteReader): WriteCommand {
  const clientId = r.string(STRING_BYTES_MAX, 'client id');
  const seq = r.varUint();
  return { type: 'write', clientId, seq, ackFloor: 0, stampMs: 0, ops: readOps(r) };
}

/** Writes key-value mutations (a count, then each op's tag and bytes). */
export function writeOps(w: ByteWriter, ops: readonly KvOp[]): void {
  w.varUint(ops.length);
  for (const op of ops) {
    w.varUint(OP_TAGS[op.type]);
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
}

/** Reads what `writeOps` wrote, within the command limits. */
export function readOps(r: ByteReader): KvOp[] {
  const n = r.count(COMMAND_OPS_MAX, 2, 'ops');
  const ops: KvOp[] = [];
  for (let i = 0; i < n; i++) {
    const t = r.varUint();
    if (t === OP_TAGS.put) {
      ops.push({ type: 'put', key: r.bytes(COMMAND_KEY_BYTES_MAX, 'key'), value: r.bytes(COMMAND_VALUE_BYTES_MAX, 'value') });
    } else if (t === OP_TAGS.delete) {
      ops.push({ type: 'delete', key: r.bytes(COMMAND_KEY_BYTES_MAX, 'key') });
    } else if (t === OP_TAGS.deleteRange) {
      ops.push({ type: 'deleteRange', start: r.bytes(COMMAND_KEY_BYTES_MAX, 'start'), end: r.bytes(COMMAND_KEY_BYTES_MAX, 'end') });
    } else {
      throw new CommandDecodeError(`unknown op type ${t}`);
    }
  }
  return ops;
}

function writeSplit(w: ByteWriter, c: SplitCommand): void {
  w.varUint(Tag.Split);
  w.bytes(c.splitKey);
  w.varUint(c.newRegionId);
  w.varUint(c.newPeerIds.length);
  for (const id of c.newPeerIds) w.varUint(id);
}

function readSplit(r: ByteReader): SplitCommand {
  const splitKey = r.bytes(COMMAND_KEY_BYTES_MAX, 'split key');
  const newRegionId = r.varUint();
  const n = r.count(COMMAND_PEERS_MAX, 1, 'peer ids');
  const newPeerIds: number[] = [];
  for (let i = 0; i < n; i++) newPeerIds.push(r.varUint());
  return { type: 'split', splitKey, newRegionId, newPeerIds };
}

/** Region metadata as bytes (persisted region state, snapshot headers). */
export function writeRegion(w: ByteWriter, region: Region): void {
  w.varUint(region.id);
  w.bytes(region.startKey);
  w.bytes(region.endKey);
  w.varUint(region.epoch.confVer);
  w.varUint(region.epoch.version);
  writePeers(w, region.peers);
}

export function readRegion(r: ByteReader): Region {
  const id = r.varUint();
  const startKey = r.bytes(COMMAND_KEY_BYTES_MAX, 'start key');
  const endKey = r.bytes(COMMAND_KEY_BYTES_MAX, 'end key');
  const confVer = r.varUint();
  const version = r.varUint();
  return { id, startKey, endKey, epoch: { confVer, version }, peers: readPeers(r) };
}

export function writePeer(w: ByteWriter, p: Peer): void {
  w.varUint(p.id);
  w.varUint(p.storeId);
  w.varUint(ROLES.indexOf(p.role));
}

export function readPeer(r: ByteReader): Peer {
  const id = r.varUint();
  const storeId = r.varUint();
  const role = ROLES[r.varUint()];
  if (!role) throw new CommandDecodeError('unknown peer role');
  return { id, storeId, role };
}

export function writePeers(w: ByteWriter, peers: readonly Peer[]): void {
  w.varUint(peers.length);
  for (const p of peers) writePeer(w, p);
}

export function readPeers(r: ByteReader): Peer[] {
  const n = r.count(COMMAND_PEERS_MAX, 3, 'peers');
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) peers.push(readPeer(r));
  return peers;
}

export function encodeConfChangeContext(ctx: ConfChangeContext): Uint8Array {
  const w = new ByteWriter();
  writePeers(w, ctx.peers);
  return w.finish();
}

export function decodeConfChangeContext(data: Uint8Array): ConfChangeContext {
  try {
    const r = new ByteReader(data);
    const peers = readPeers(r);
    r.end('conf change context');
    return { peers };
  } catch (e) {
    throw new CommandDecodeError((e as Error).message);
  }
}

export function encodeRegion(region: Region): Uint8Array {
  const w = new ByteWriter();
  writeRegion(w, region);
  return w.finish();
}

export function decodeRegion(data: Uint8Array): Region {
  try {
    const r = new ByteReader(data);
    const region = readRegion(r);
    r.end('region');
    return region;
  } catch (e) {
    throw new CommandDecodeError((e as Error).message);
  }
}
