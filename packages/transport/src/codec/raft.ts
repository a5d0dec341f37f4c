/**
 * Paired writers and readers for the Raft data model (`Message`, `Entry`, `Snapshot`,
 * `ConfState`). The first varUint of a message is its type, the index in `MESSAGE_TYPES`
 * (append-only, so the index is a stable wire number). Conf-change entries carry opaque
 * bytes; the codec never looks inside them.
 */
import { MESSAGE_TYPES } from '@peerkv/raft';
import type { ConfState, Entry, EntryType, Message, MessageType, NodeId, Snapshot } from '@peerkv/raft';
import type { ByteReader, ByteWriter } from '@peerkv/proto';
import { DecodeError } from './errors.ts';
import type { DecodeLimits } from './limits.ts';

const MESSAGE_TYPE_CODES: ReadonlyMap<MessageType, number> = new Map(MESSAGE_TYPES.map((t, i) => [t, i]));
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'confChange'];

/** Smallest encoded sizes, used to bound counts by the bytes that remain. */
const ENTRY_BYTES_MIN = 4;
const MESSAGE_BYTES_MIN = 9;

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAG_CONTEXT = 4;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_SNAPSHOT | FLAG_CONTEXT;

/** Writes one log entry. */
export function writeEntry(w: ByteWriter, e: Entry): void {
  w.varUint(e.term);
  w.varUint(e.index);
  w.u8(e.type === 'normal' ? 0 : 1);
  w.bytes(e.data);
}

/** Reads one log entry. */
export function readEntry(r: ByteReader, limits: DecodeLimits): Entry {
  const term = r.varUint();
  const index = r.varUint();
  const code = r.u8();
  const type = ENTRY_TYPES[code];
  if (type === undefined) throw new DecodeError('UnknownEntryType', `entry type ${code}`);
  const data = r.bytes(limits.fieldBytesMax, 'entry data bytes');
  return { term, index, type, data };
}

function writeNodeIds(w: ByteWriter, ids: readonly NodeId[]): void {
  w.varUint(ids.length);
  for (const id of ids) w.varUint(id);
}

function readNodeIds(r: ByteReader, limits: DecodeLimits): NodeId[] {
  const n = r.count(limits.nodeIdsPerListMax, 1, 'node ids');
  const out: NodeId[] = [];
  for (let i = 0; i < n; i++) out.push(r.varUint());
  return out;
}

/** Writes a membership configuration. */
export function writeConfState(w: ByteWriter, cs: ConfState): void {
  writeNodeIds(w, cs.voters);
  writeNodeIds(w, cs.learners);
  writeNodeIds(w, cs.votersOutgoing);
  writeNodeIds(w, cs.learnersNext);
  w.u8(cs.autoLeave ? 1 : 0);
}

/** Reads a membership configuration. */
export function readConfState(r: ByteReader, limits: DecodeLimits): ConfState {
  const voters = readNodeIds(r, limits);
  const learners = readNodeIds(r, limits);
  const votersOutgoing = readNodeIds(r, limits);
  const learnersNext = readNodeIds(r, limits);
  const autoLeave = r.bool();
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}

/** Writes a snapshot: metadata, then the opaque state-machine bytes. */
export function writeSnapshot(w: ByteWriter, s: Snapshot): void {
  writeConfState(w, s.metadata.confState);
  w.varUint(s.metadata.index);
  w.varUint(s.metadata.term);
  w.bytes(s.data);
}

/** Reads a snapshot. */
export function readSnapshot(r: ByteReader, limits: DecodeLimits): Snapshot {
  const confState = readConfState(r, limits);
  const index = r.varUint();
  const term = r.varUint();
  const data = r.bytes(limits.fieldBytesMax, 'snapshot data bytes');
  return { data, metadata: { confState, index, term } };
}

/** Writes one Raft message; its first varUint is the message type. */
export function writeMessage(w: ByteWriter, m: Message): void {
  const code = MESSAGE_TYPE_CODES.get(m.type);
  if (code === undefined) throw new RangeError(`unknown message type ${String(m.type)}`);
  w.varUint(code);
  w.varUint(m.to);
  w.varUint(m.from);
  w.varUint(m.term);
  w.varUint(m.logTerm);
  w.varUint(m.index);
  w.varUint(m.commit);
  w.varUint(m.rejectHint);
  const flags = (m.reject ? FLAG_REJECT : 0) | (m.snapshot ? FLAG_SNAPSHOT : 0) | (m.context ? FLAG_CONTEXT : 0);
  w.u8(flags);
  w.varUint(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  if (m.snapshot) writeSnapshot(w, m.snapshot);
  if (m.context) w.bytes(m.context);
}

/** Reads one Raft message; an unknown type is a `DecodeError`. */
export function readMessage(r: ByteReader, limits: DecodeLimits): Message {
  const code = r.varUint();
  const type = MESSAGE_TYPES[code];
  if (type === undefined) throw new DecodeError('UnknownMessageType', `message type ${code}`);
  const to = r.varUint();
  const from = r.varUint();
  const term = r.varUint();
  const logTerm = r.varUint();
  const index = r.varUint();
  const commit = r.varUint();
  const rejectHint = r.varUint();
  const flags = r.u8();
  if ((flags & ~FLAGS_KNOWN) !== 0) throw new DecodeError('InvalidValue', `message flags ${flags}`);
  const n = r.count(limits.entriesPerMessageMax, ENTRY_BYTES_MIN, 'entries');
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push(readEntry(r, limits));
  const m: Message = { type, to, from, term, logTerm, index, entries, commit, reject: (flags & FLAG_REJECT) !== 0, rejectHint };
  if (flags & FLAG_SNAPSHOT) m.snapshot = readSnapshot(r, limits);
  if (flags & FLAG_CONTEXT) m.context = r.bytes(limits.fieldBytesMax, 'context bytes');
  return m;
}

/** Smallest possible encoded message, for bounding batch counts. */
export const ENCODED_MESSAGE_BYTES_MIN = MESSAGE_BYTES_MIN;
