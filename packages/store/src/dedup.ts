/**
 * At-most-once application of client writes (ARCHITECTURE: idempotence). Each region keeps,
 * per client, the applied sequence numbers within a window below the highest one. A client
 * keeps at most `DEDUP_WINDOW` writes in flight, so a retry always falls in the window; a
 * sequence number below the window is answered as already applied.
 *
 * The table is part of the replicated state: it is changed only by applying log entries,
 * persisted with them, carried in snapshots and copied to both halves of a split.
 */

import type { WriteBatch } from '@peerkv/storage';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { META_CF, dedupKey } from './keys.ts';

/** Writes one client may have in flight (sequence numbers remembered per client). */
export const DEDUP_WINDOW = 1024;
/** Clients remembered per region; the least recently active are forgotten first. */
export const DEDUP_CLIENTS_MAX = 10_000;

/** One applied (clientId, seq), with the log index that applied it. */
export interface DedupEntry {
  clientId: string;
  seq: number;
  appliedIndex: number;
}

interface ClientRecord {
  maxSeq: number;
  seqs: Set<number>;
  lastIndex: number;
}

export class DedupTable {
  private clients = new Map<string, ClientRecord>();

  /** Whether (clientId, seq) was applied already (or is too old to tell, which means it was). */
  isApplied(clientId: string, seq: number): boolean {
    const c = this.clients.get(clientId);
    if (!c) return false;
    if (seq <= c.maxSeq - DEDUP_WINDOW) return true;
    return c.seqs.has(seq);
  }

  /** Records (clientId, seq) as applied at `index`. Returns the clients forgotten to stay bounded. */
  record(clientId: string, seq: number, index: number): string[] {
    let c = this.clients.get(clientId);
    if (!c) {
      c = { maxSeq: 0, seqs: new Set(), lastIndex: index };
      this.clients.set(clientId, c);
    }
    c.seqs.add(seq);
    c.maxSeq = Math.max(c.maxSeq, seq);
    c.lastIndex = index;
    // Keep the map in recency order (Map iteration order is insertion order).
    this.clients.delete(clientId);
    this.clients.set(clientId, c);
    const floor = c.maxSeq - DEDUP_WINDOW;
    if (c.seqs.size > DEDUP_WINDOW) for (const s of c.seqs) if (s <= floor) c.seqs.delete(s);
    const evicted: string[] = [];
    while (this.clients.size > DEDUP_CLIENTS_MAX) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }

  /** One client's entries (to persist after `record`). */
  clientEntries(clientId: string): DedupEntry[] {
    const c = this.clients.get(clientId);
    if (!c) return [];
    return [...c.seqs].map((seq) => ({ clientId, seq, appliedIndex: c.lastIndex }));
  }

  entries(): DedupEntry[] {
    const out: DedupEntry[] = [];
    for (const [clientId, c] of this.clients) for (const seq of c.seqs) out.push({ clientId, seq, appliedIndex: c.lastIndex });
    return out;
  }

  static from(entries: DedupEntry[]): DedupTable {
    const t = new DedupTable();
    for (const e of entries) t.record(e.clientId, e.seq, e.appliedIndex);
    return t;
  }

  clone(): DedupTable {
    return DedupTable.from(this.entries());
  }
}

/** Stages one client's dedup record (and deletes forgotten clients') in the region's meta. */
export function stageDedupRecord(kv: WriteBatch, regionId: number, table: DedupTable, clientId: string, evicted: string[] = []): void {
  const w = new ByteWriter();
  const entries = table.clientEntries(clientId);
  w.varUint(entries.length);
  for (const d of entries) {
    w.varUint(d.seq);
    w.varUint(d.appliedIndex);
  }
  kv.put(META_CF, dedupKey(regionId, clientId), w.finish());
  for (const c of evicted) kv.delete(META_CF, dedupKey(regionId, c));
}

/** Stages every client's record of `table` (after a snapshot install or a split). */
export function stageDedupTable(kv: WriteBatch, regionId: number, table: DedupTable): void {
  for (const clientId of new Set(table.entries().map((d) => d.clientId))) stageDedupRecord(kv, regionId, table, clientId);
}

/** Decodes one stored client record. */
export function decodeDedupRecord(clientId: string, value: Uint8Array): DedupEntry[] {
  const r = new ByteReader(value);
  const n = r.varUint();
  const out: DedupEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ clientId, seq: r.varUint(), appliedIndex: r.varUint() });
  return out;
}
