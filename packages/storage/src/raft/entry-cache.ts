/**
 * A contiguous window of log entries in memory, bounded in bytes. The tail cache of a
 * region always ends at its last index and drops its oldest entries first; a fetched window
 * holds older entries read back from the engine on demand.
 */
import { entrySizeBytes, type Entry } from '@peerkv/raft';

/** Entries `[first, first + length)`. */
export class EntryWindow {
  private entries: Entry[] = [];
  /** Index into `entries` of the first live entry (avoids O(n) shifts on eviction). */
  private head = 0;
  private bytes = 0;

  constructor(private firstIdx: number) {}

  /** The first index held (or the next index to be held, when empty). */
  get first(): number {
    return this.firstIdx;
  }

  /** One past the last index held. */
  get end(): number {
    return this.firstIdx + this.entries.length - this.head;
  }

  /** Bytes held, by `entrySizeBytes`. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** The entry at `index`, if held. */
  get(index: number): Entry | undefined {
    if (index < this.firstIdx || index >= this.end) return undefined;
    return this.entries[this.head + index - this.firstIdx];
  }

  /** Writes `ents` (contiguous) starting at their first index, dropping whatever was at or after it. */
  appendAt(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const from = ents[0].index;
    if (from < this.firstIdx || from > this.end) this.clear(from);
    else this.truncateFrom(from);
    for (const e of ents) {
      this.entries.push(e);
      this.bytes += entrySizeBytes(e);
    }
  }

  /** Drops every entry ≥ `index`. */
  truncateFrom(index: number): void {
    while (this.end > Math.max(index, this.firstIdx)) this.bytes -= entrySizeBytes(this.entries.pop() as Entry);
  }

  /** Drops every entry ≤ `index`. */
  dropThrough(index: number): void {
    while (this.firstIdx <= index && this.end > this.firstIdx) this.dropFirst();
    if (this.end === this.firstIdx) this.firstIdx = Math.max(this.firstIdx, index + 1);
  }

  /** Drops oldest entries until at most `bytesMax` remain. */
  evictTo(bytesMax: number): void {
    while (this.bytes > bytesMax && this.end > this.firstIdx) this.dropFirst();
  }

  /** Empties the window; the next entry expected is `next`. */
  clear(next: number): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.firstIdx = next;
  }

  private dropFirst(): void {
    this.bytes -= entrySizeBytes(this.entries[this.head]);
    this.head++;
    this.firstIdx++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
