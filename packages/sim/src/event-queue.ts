/**
 * Virtual time: a priority queue of timed callbacks. Owns the simulator's clock; nothing in
 * the simulator reads a wall clock. Events at the same virtual time run in scheduling order,
 * so a seed replays identically.
 */

/** A scheduled callback. */
interface TimedEvent {
  atMs: number;
  seq: number;
  run: () => void;
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/** A min-heap of timed callbacks plus the current virtual time. */
export class EventQueue {
  private readonly heap: TimedEvent[] = [];
  private seq = 0;
  private nowMs = 0;

  /** The current virtual time, ms. */
  now(): number {
    return this.nowMs;
  }

  /** Runs `run` at `now() + delayMs` (delay clamped at 0). */
  schedule(delayMs: number, run: () => void): void {
    this.push({ atMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, run });
  }

  /** Virtual time of the next event, if any. */
  peekTimeMs(): number | undefined {
    return this.heap[0]?.atMs;
  }

  /** Number of pending events. */
  get size(): number {
    return this.heap.length;
  }

  /** Moves the clock forward to `atMs` (never backwards). */
  advanceTo(atMs: number): void {
    if (atMs > this.nowMs) this.nowMs = atMs;
  }

  /** Pops the next event if it is due at or before `atMs`, advancing the clock to it. */
  popDue(atMs: number): (() => void) | undefined {
    const top = this.heap[0];
    if (top === undefined || top.atMs > atMs) return undefined;
    this.pop();
    this.advanceTo(top.atMs);
    return top.run;
  }

  private push(e: TimedEvent): void {
    const a = this.heap;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  private pop(): void {
    const a = this.heap;
    const last = a.pop();
    if (a.length === 0 || last === undefined) return;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && before(a[l], a[m])) m = l;
      if (r < a.length && before(a[r], a[m])) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m], a[i]];
      i = m;
    }
  }
}
