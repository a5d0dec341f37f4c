/**
 * The offline queue's records and where they are kept (`offline-txns.ts` runs them). A record is
 * one transaction that ran while the quorum was away: what it read (keys, and ranges with a
 * digest of what they held), at which ts, what it wrote, and the mutator that can run it again.
 * It is written durably before `transaction(fn, { offline: 'queue' })` returns, and again before
 * every commit attempt (`attempt`: the start ts and primary a commit was sent under, so an
 * attempt whose outcome never came back is decided on its primary, never sent blindly again).
 *
 * `OfflineQueueStore` is the pluggable durability: `MemoryOfflineQueueStore` here (tests, and a
 * process that accepts losing its queue with its memory); the browser keeps it in IndexedDB.
 */
import type { Mutation } from '@peerkv/txn';
import { PeerKVError } from '../errors.ts';

/** Transactions the queue holds at most (queued, committing or rejected) unless the client's options say otherwise. */
export const OFFLINE_QUEUE_TXNS_MAX_DEFAULT = 1000;
/** Bytes the queue holds at most (`queuedTxnBytes` of every record) unless the options say otherwise: 16 MiB. */
export const OFFLINE_QUEUE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
/** Range reads (scans) one queued transaction may record. */
export const OFFLINE_RANGES_PER_TXN_MAX = 64;
/** Bytes of a mutator's arguments (as JSON) at most. */
export const MUTATOR_ARGS_BYTES_MAX = 64 * 1024;
/** Characters of a mutator's name at most. */
export const MUTATOR_NAME_CHARS_MAX = 128;

/** A range a queued transaction scanned: `[start, end)` (empty end: unbounded) and the SHA-256 of what it held at the read ts. */
export interface QueuedRangeRead {
  start: Uint8Array;
  end: Uint8Array;
  digest: Uint8Array;
}

/** A commit attempt sent under `startTs` whose outcome is not known yet (decided on `primary`). */
export interface QueuedAttempt {
  startTs: bigint;
  primary: Uint8Array;
  /** Every key of the attempt (rolled back with the primary when it did not commit). */
  keys: Uint8Array[];
}

/** Why a queued transaction has not committed yet (or was rejected). */
export interface QueuedTxnError {
  kind: string;
  message: string;
  keys?: Uint8Array[];
}

/** One queued transaction, as stored. */
export interface QueuedTxnRecord {
  id: string;
  /** Queue order: transactions commit in increasing `seq`. */
  seq: number;
  /** Client clock ms when it was queued. */
  createdAtMs: number;
  /** The registered mutator that can run it again, and its arguments (JSON). */
  mutator?: { name: string; argsJson: string };
  /** The ts its reads were made at (the local replica's resolved ts). */
  readTs: bigint;
  /** Keys it read (and did not write): committed as `lock` mutations, checked since `readTs`. */
  reads: Uint8Array[];
  ranges: QueuedRangeRead[];
  /** Its writes (`put`/`delete`), distinct keys. */
  writes: Mutation[];
  /**
   * `queued` until it commits or is rejected (kept until dismissed). A `committed` record is
   * out of the queue: kept emptied for a while so other clients of the store learn its outcome.
   */
  status: 'queued' | 'rejected' | 'committed';
  /** When committed: at which ts, and when it was found so (client clock ms). */
  commitTs?: bigint;
  settledAtMs?: number;
  /** A conflict was found: it commits only by running its mutator again. */
  rerun: boolean;
  attempt?: QueuedAttempt;
  /** Commit attempts made so far. */
  attempts: number;
  lastError?: QueuedTxnError;
}

/** Where the queue is kept. Each call is durable when its promise resolves. */
export interface OfflineQueueStore {
  /** Every stored record (any order). */
  load(): Promise<QueuedTxnRecord[]>;
  /** Inserts or replaces the record `record.id`. */
  put(record: QueuedTxnRecord): Promise<void>;
  delete(id: string): Promise<void>;
}

/** A queue kept in memory (structured clones): survives a client, not the process. */
export class MemoryOfflineQueueStore implements OfflineQueueStore {
  private readonly records = new Map<string, QueuedTxnRecord>();

  async load(): Promise<QueuedTxnRecord[]> {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  async put(record: QueuedTxnRecord): Promise<void> {
    this.records.set(record.id, structuredClone(record));
  }

  async delete(id: string): Promise<void> {
    this.records.delete(id);
  }
}

/** The bytes a record counts against `offlineQueueBytesMax`: its keys, values, digests and mutator. */
export function queuedTxnBytes(r: QueuedTxnRecord): number {
  let n = 0;
  for (const k of r.reads) n += k.length;
  for (const g of r.ranges) n += g.start.length + g.end.length + g.digest.length;
  for (const m of r.writes) n += m.key.length + ('value' in m ? m.value.length : 0);
  if (r.mutator) n += utf8Bytes(r.mutator.name) + utf8Bytes(r.mutator.argsJson);
  return n;
}

/** A mutator's arguments as JSON (`InvalidArgument` if they are not JSON or too large). */
export function mutatorArgsJson(name: string, args: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MUTATOR_NAME_CHARS_MAX) throw new PeerKVError('InvalidArgument', `a mutator name is 1 to ${MUTATOR_NAME_CHARS_MAX} characters`);
  let json: string | undefined;
  try {
    json = JSON.stringify(args ?? null);
  } catch (e) {
    throw new PeerKVError('InvalidArgument', `mutator ${name}: its arguments are not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (json === undefined) throw new PeerKVError('InvalidArgument', `mutator ${name}: its arguments are not JSON`);
  const bytes = utf8Bytes(json);
  if (bytes > MUTATOR_ARGS_BYTES_MAX) throw new PeerKVError('InvalidArgument', `mutator ${name}: its arguments are ${bytes} bytes as JSON, over ${MUTATOR_ARGS_BYTES_MAX}`);
  return json;
}

const encoder = new TextEncoder();

function utf8Bytes(s: string): number {
  return encoder.encode(s).length;
}
