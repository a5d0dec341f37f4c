/**
 * What travels between simulated clients and nodes, and the copy made of every Raft message
 * on delivery (the network hands each receiver its own objects, as a real wire would: the
 * core may mutate received entries, and a duplicated message must not alias).
 */
import type { Entry, Message, NodeId } from '@peerkv/raft';
import type { OpKind, Value } from './history.ts';

/** A client request to a node. Writes carry (clientId, seq) for deduplication. */
export interface ClientRequest {
  opId: number;
  /** Which try of the operation this is (1, 2, ...): a refusal only counts for its own try. */
  attempt: number;
  clientId: number;
  seq: number;
  kind: OpKind;
  key: string;
  value?: string;
}

/** A node's answer to a client. */
export type ClientReply =
  /** Done: for `get`, `output` is the value read. */
  | { opId: number; attempt: number; kind: 'ok'; output?: Value; leaderHint: NodeId }
  /** Refused before it entered any log (no leader, transfer in progress ...): had no effect. */
  | { opId: number; attempt: number; kind: 'dropped'; leaderHint: NodeId };

/** Traffic on the client network. */
export type ClientTraffic = { kind: 'request'; request: ClientRequest } | { kind: 'reply'; reply: ClientReply };

function copyEntry(e: Entry): Entry {
  return { term: e.term, index: e.index, type: e.type, data: e.data };
}

/** A copy of `m` that shares only immutable byte arrays and snapshots. */
export function copyMessage(m: Message): Message {
  return { ...m, entries: m.entries.map(copyEntry) };
}
