/**
 * At-most-once application of client writes (ARCHITECTURE: idempotence). Each region keeps,
 * per client, which sequence numbers it applied: every seq ≤ `floor`, plus the `extras`
 * above it (writes applied out of order). A client keeps at most `DEDUP_WINDOW` writes in
 * flight, so the extras stay few; if they outgrow the window the floor is raised, and a
 * seq below the floor is answered as already applied.
 *
 * The table is part of the replicated state: it changes only by applying log entries, is
 * persisted with them (one small record per client), carried in snapshots and copied to
 * both halves of a split.
 */
import type { WriteBatch } from '@peerkv/storage';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { META_CF, dedupKey } from './keys.ts';

/** Writes one client may have in flight. */
export const DEDUP_WINDOW = 1024;
/** Clients remembered per region; the least recently active are forgotten first. */
export const DEDUP_CLIENTS_MAX = 10_000;

/** One client's applied sequence numbers. */
export interface DedupEntry {
  clientId: string;
  /** Every seq ≤ floor was applied. */
  floor: number;
  /** Applied seqs above the floor, ascending. */
  extras: number[];
}

interface ClientRecord {
  floor: number;
  extras: Set<number>;
}

export class DedupTable {
  private clients = new Map<string, ClientRecord>();

  /** Whether (clientId, seq) was applied already (or is too old to tell, which means it was). */
  isApplied(clientId: string, seq: number): boolean {
    const c = this.clients.get(clientId);
    return c !== undefined && (seq <= c.floor || c.extras.has(seq));
  }

  /** Records (clientId, seq) as applied. Returns the clients forgotten to stay bounded. */
  record(clientId: string, seq: number): string[] {
    let c = this.clients.get(clientId);
    if (!c) c = { floor: 0, extras: new Set() };
    // Keep the map in recency order (Map iteration order is insertion order).
    this.clients.delete(clientId);
    this.clients.set(clientId, c);
    if (seq > c.floor) c.extras.add(seq);
    while (c.extras.delete(c.floor + 1)) c.floor++;
    if (c.extras.size > DEDUP_WINDOW) {
      const max = Math.max(...c.extras);
      c.floor = max - DEDUP_WINDOW;
      for (const s of c.extras) if (s <= c.floor) c.extras.delete(s);
    }
    const evicted: string[] = [];
    while (this.clients.size > DEDUP_CLIENTS_MAX) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }

  /** One client's entry (to persist after `record`). */
  entry(clientId: string): DedupEntry | undefined {
    const c = this.clients.get(clientId);
    return c ? { clientId, floor: c.floor, extras: [...c.extras].sort((a, b) => a - b) } : undefined;
  }

  entries(): DedupEntry[] {
    return [...this.clients.keys()].map((id) => this.entry(id)!);
  }

  static from(entries: DedupEntry[]): DedupTable {
    const t = new DedupTable();
    for (const e of entries) t.clients.set(e.clientId, { floor: e.floor, extras: new Set(e.extras) });
    return t;
  }

  clone(): DedupTable {
    return DedupTable.from(this.entries());
  }
}

/** Writes an entry's body (floor, extras) after its client id. */
export function writeDedupBody(w: ByteWriter, e: DedupEntry): void {
  w.varUint(e.floor);
  w.varUint(e.extras.length);
  for (const s of e.extras) w.varUint(s);
}

/** Reads an entry's body; `extrasMax` bounds the allocation. */
export function readDedupBody(r: ByteReader, clientId: string): DedupEntry {
  const floor = r.varUint();
  const n = r.count(DEDUP_WINDOW + 1, 1, 'dedup extras');
  const extras: number[] = [];
  for (let i = 0; i < n; i++) extras.push(r.varUint());
  return { clientId, floor, extras };
}

/** Stages one client's dedup record (and deletes forgotten clients') in the region's meta. */
export function stageDedupRecord(kv: WriteBatch, regionId: number, table: DedupTable, clientId: string, evicted: string[] = []): void {
  const e = table.entry(clientId);
  if (e) {
    const w = new ByteWriter();
    writeDedupBody(w, e);
    kv.put(META_CF, dedupKey(regionId, clientId), w.finish());
  }
  for (const c of evicted) kv.delete(META_CF, dedupKey(regionId, c));
}

/** Stages every client's record of `table` (after a snapshot install or a split). */
export function stageDedupTable(kv: WriteBatch, regionId: number, table: DedupTable): void {
  for (const e of table.entries()) stageDedupRecord(kv, regionId, table, e.clientId);
}

/** Decodes one stored client record. */
export function decodeDedupRecord(clientId: string, value: Uint8Array): DedupEntry {
  const r = new ByteReader(value);
  const e = readDedupBody(r, clientId);
  r.end('dedup record');
  return e;
}
