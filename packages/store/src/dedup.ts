/**
 * At-most-once application of client writes (ARCHITECTURE: idempotence), after RIFL (Lee et
 * al., SOSP 2015, "Implementing Linearizability at Large Scale and Low Latency"):
 *
 * - **Completion records.** Per client, a region remembers which of its sequence numbers it
 *   applied, above the client's acknowledgement floor. The records are replicated state:
 *   they change only by applying log entries, are persisted with them, carried in snapshots
 *   and copied to the right half of a split *at the split entry*, so they move with the data
 *   and every replica holds the same records at the same index.
 * - **Acknowledgements.** Every write carries the client's `ackFloor`: the client has a final
 *   answer for every seq below it and will never send them again. Records below the floor are
 *   dropped. A client keeps every new seq within `CLIENT_WRITE_WINDOW_SEQS` of its oldest
 *   unfinished one, so a region keeps at most that many records per client.
 * - **An explicit error, never a silent success.** A write below the floor (a duplicate the
 *   network delivered late) or from a client whose lease ended cannot be judged any more: it
 *   is refused with `StaleWrite` and not applied. "Too old to tell" is never "applied".
 * - **Leases.** A client's records live while it writes: a record idle for `CLIENT_LEASE_MS`
 *   (measured in the leaders' clocks stamped into the log, so every replica decides alike) or
 *   pushed out by `DEDUP_CLIENTS_MAX` newer clients expires. An expired client is remembered
 *   (a marker, `EXPIRED_CLIENTS_MAX` of them) and its writes get `StaleWrite`: the client
 *   starts a new session id. Clients rotate their id after `CLIENT_LEASE_MS / 2` idle, so a
 *   live client never meets its own expiry.
 */
import type { WriteBatch } from '@peerkv/storage';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { META_CF, dedupKey } from './keys.ts';

/** How far past its oldest unfinished write a client may number a new one (seqs). */
export const CLIENT_WRITE_WINDOW_SEQS = 1024;
/** Completion records one client may hold in one region (a client that ignores the window is refused). */
export const DEDUP_RECORDS_PER_CLIENT_MAX = CLIENT_WRITE_WINDOW_SEQS;
/** @deprecated the old name of `CLIENT_WRITE_WINDOW_SEQS`. */
export const DEDUP_WINDOW = CLIENT_WRITE_WINDOW_SEQS;
/** Live clients remembered per region; the least recently active expire first. */
export const DEDUP_CLIENTS_MAX = 10_000;
/** Expired clients remembered per region (their late writes get `StaleWrite`). */
export const EXPIRED_CLIENTS_MAX = 10_000;
/** A client silent this long (in the log's leader-stamped time) expires, ms. */
export const CLIENT_LEASE_MS = 10 * 60_000;

/** One client's completion records, or the marker of an expired client. */
export interface DedupEntry {
  clientId: string;
  /** Every seq below this is finished for the client (it sends none of them again). */
  ackFloor: number;
  /** Applied seqs ≥ ackFloor, ascending. */
  applied: number[];
  /** Leader-stamped time of the client's last write here, ms. */
  lastActiveMs: number;
  /** The client's lease ended: its writes are refused. */
  expired: boolean;
  /**
   * The table's counter when this client was last touched: restores the recency order exactly
   * (leader clocks may be skewed, so `lastActiveMs` alone could order replicas differently).
   */
  touch: number;
}

/** What the table says about one write. */
export type DedupVerdict =
  /** Not seen: apply it. */
  | { kind: 'new' }
  /** Applied before: answer success without applying again. */
  | { kind: 'applied' }
  /** Cannot be judged (below the ack floor, or the client's lease ended): refuse it. */
  | { kind: 'stale'; reason: string }
  /** The client holds too many records here: refuse it (not applied). */
  | { kind: 'full' };

interface ClientRecord {
  ackFloor: number;
  applied: Set<number>;
  lastActiveMs: number;
  touch: number;
}

export class DedupTable {
  /** Live clients in recency order (Map iteration order is insertion order). */
  private clients = new Map<string, ClientRecord>();
  /** Expired clients (their last activity), oldest first. */
  private expired = new Map<string, { lastActiveMs: number; touch: number }>();
  /** The last `touch` handed out (the newest entry always keeps it, so a reload restores it). */
  private touchLast = 0;

  /** Judges (clientId, seq) at leader time `nowMs` without changing anything. */
  check(clientId: string, seq: number, nowMs: number): DedupVerdict {
    if (this.expired.has(clientId)) return { kind: 'stale', reason: `client ${clientId}'s lease ended` };
    const c = this.clients.get(clientId);
    if (!c) return { kind: 'new' };
    if (c.lastActiveMs + CLIENT_LEASE_MS < nowMs) return { kind: 'stale', reason: `client ${clientId}'s lease ended` };
    if (seq < c.ackFloor) return { kind: 'stale', reason: `seq ${seq} is below client ${clientId}'s acknowledged floor ${c.ackFloor}` };
    if (c.applied.has(seq)) return { kind: 'applied' };
    if (c.applied.size >= DEDUP_RECORDS_PER_CLIENT_MAX) return { kind: 'full' };
    return { kind: 'new' };
  }

  /** Whether (clientId, seq) is known to be applied (a stale or unknown seq is not). */
  isApplied(clientId: string, seq: number): boolean {
    const c = this.clients.get(clientId);
    return c !== undefined && c.applied.has(seq);
  }

  /**
   * Records a write of the client at leader time `nowMs`: `seq` applied (unless `applied` is
   * false: a duplicate only moves the floor), the floor raised to `ackFloor`, idle clients
   * expired. Returns the client ids whose stored records changed (to persist).
   */
  record(clientId: string, seq: number, ackFloor: number, nowMs: number, applied = true): string[] {
    const touched = this.expireIdle(nowMs);
    let c = this.clients.get(clientId);
    if (!c) c = { ackFloor: 0, applied: new Set(), lastActiveMs: nowMs, touch: 0 };
    c.touch = ++this.touchLast;
    this.clients.delete(clientId);
    this.clients.set(clientId, c);
    c.lastActiveMs = Math.max(c.lastActiveMs, nowMs);
    if (applied) c.applied.add(seq);
    if (ackFloor > c.ackFloor) {
      c.ackFloor = ackFloor;
      for (const s of c.applied) if (s < ackFloor) c.applied.delete(s);
    }
    touched.push(clientId);
    while (this.clients.size > DEDUP_CLIENTS_MAX) {
      const oldest = this.clients.keys().next().value as string;
      touched.push(...this.expire(oldest));
    }
    return touched;
  }

  /**
   * Raises a live client's floor to `ackFloor` and drops its records below it (before a write
   * is judged, so a client at the record limit frees itself by acknowledging). Returns the
   * client if its stored record changed.
   */
  acknowledge(clientId: string, ackFloor: number): string[] {
    const c = this.clients.get(clientId);
    if (!c || ackFloor <= c.ackFloor) return [];
    c.ackFloor = ackFloor;
    for (const s of c.applied) if (s < ackFloor) c.applied.delete(s);
    return [clientId];
  }

  /**
   * Expires clients idle for `CLIENT_LEASE_MS` before `nowMs`, oldest first, stopping at the
   * first one still live (amortized O(1); `check` refuses an idle client that is not swept yet).
   */
  expireIdle(nowMs: number): string[] {
    const touched: string[] = [];
    for (const [id, c] of this.clients) {
      if (c.lastActiveMs + CLIENT_LEASE_MS >= nowMs) break;
      touched.push(...this.expire(id));
    }
    return touched;
  }

  private expire(clientId: string): string[] {
    const c = this.clients.get(clientId);
    if (!c) return [];
    this.clients.delete(clientId);
    this.expired.set(clientId, { lastActiveMs: c.lastActiveMs, touch: c.touch });
    const touched = [clientId];
    while (this.expired.size > EXPIRED_CLIENTS_MAX) {
      const oldest = this.expired.keys().next().value as string;
      this.expired.delete(oldest);
      touched.push(oldest);
    }
    return touched;
  }

  /** One client's entry (to persist after `record`); undefined once forgotten. */
  entry(clientId: string): DedupEntry | undefined {
    const c = this.clients.get(clientId);
    if (c) return { clientId, ackFloor: c.ackFloor, applied: [...c.applied].sort((a, b) => a - b), lastActiveMs: c.lastActiveMs, expired: false, touch: c.touch };
    const x = this.expired.get(clientId);
    return x === undefined ? undefined : { clientId, ackFloor: 0, applied: [], lastActiveMs: x.lastActiveMs, expired: true, touch: x.touch };
  }

  /** Every entry: expired markers then live clients, each oldest first (the order `from` restores). */
  entries(): DedupEntry[] {
    return [...this.expired.keys(), ...this.clients.keys()].map((id) => this.entry(id)!);
  }

  /** Rebuilds a table in its recency order (by `touch`), so a reloaded replica behaves as one that never restarted. */
  static from(entries: DedupEntry[]): DedupTable {
    const t = new DedupTable();
    const sorted = [...entries].sort((a, b) => a.touch - b.touch);
    for (const e of sorted) {
      if (e.expired) t.expired.set(e.clientId, { lastActiveMs: e.lastActiveMs, touch: e.touch });
      else t.clients.set(e.clientId, { ackFloor: e.ackFloor, applied: new Set(e.applied), lastActiveMs: e.lastActiveMs, touch: e.touch });
      t.touchLast = Math.max(t.touchLast, e.touch);
    }
    return t;
  }

  clone(): DedupTable {
    return DedupTable.from(this.entries());
  }
}

/** Writes an entry's body after its client id. */
export function writeDedupBody(w: ByteWriter, e: DedupEntry): void {
  w.u8(e.expired ? 2 : 1);
  w.varUint(e.ackFloor);
  w.varUint(e.lastActiveMs);
  w.varUint(e.touch);
  w.varUint(e.applied.length);
  for (const s of e.applied) w.varUint(s);
}

/** Reads an entry's body; the record count is bounded by `DEDUP_RECORDS_PER_CLIENT_MAX`. */
export function readDedupBody(r: ByteReader, clientId: string): DedupEntry {
  const kind = r.u8();
  if (kind !== 1 && kind !== 2) throw new Error(`unknown dedup record kind ${kind}`);
  const ackFloor = r.varUint();
  const lastActiveMs = r.varUint();
  const touch = r.varUint();
  const n = r.count(DEDUP_RECORDS_PER_CLIENT_MAX, 1, 'dedup records');
  const applied: number[] = [];
  for (let i = 0; i < n; i++) applied.push(r.varUint());
  return { clientId, ackFloor, applied, lastActiveMs, expired: kind === 2, touch };
}

/** Stages the stored records of `clientIds` (a forgotten client's record is deleted). */
export function stageDedupRecords(kv: WriteBatch, regionId: number, table: DedupTable, clientIds: readonly string[]): void {
  for (const id of new Set(clientIds)) {
    const e = table.entry(id);
    if (!e) {
      kv.delete(META_CF, dedupKey(regionId, id));
      continue;
    }
    const w = new ByteWriter();
    writeDedupBody(w, e);
    kv.put(META_CF, dedupKey(regionId, id), w.finish());
  }
}

/** Stages every client's record of `table` (after a snapshot install or a split). */
export function stageDedupTable(kv: WriteBatch, regionId: number, table: DedupTable): void {
  stageDedupRecords(
    kv,
    regionId,
    table,
    table.entries().map((e) => e.clientId),
  );
}

/** Decodes one stored client record. */
export function decodeDedupRecord(clientId: string, value: Uint8Array): DedupEntry {
  const r = new ByteReader(value);
  const e = readDedupBody(r, clientId);
  r.end('dedup record');
  return e;
}
