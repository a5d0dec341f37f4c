/**
 * Virtual time: a priority queue of timed callbacks. Owns the simulator's clock; nothing in
 * the simulator reads a wall clock. Events at the same virtual time run in scheduling order,
 * so a seed replays identically.
 */
import { MinHeap } from '@peerkv/transport/memory';

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
  private readonly heap = new MinHeap<TimedEvent>(before);
  private seq = 0;
  private nowMs = 0;

  /** The current virtual time, ms. */
  now(): number {
    return this.nowMs;
  }

  /** Runs `run` at `now() + delayMs` (delay clamped at 0). */
  schedule(delayMs: number, run: () => void): void {
    this.heap.push({ atMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, run });
  }

  /** Virtual time of the next event, if any. */
  peekTimeMs(): number | undefined {
    return this.heap.peek()?.atMs;
  }

  /** Number of pending events. */
  get size(): number {
    return this.heap.size;
  }

  /** Moves the clock forward to `atMs` (never backwards). */
  advanceTo(atMs: number): void {
    if (atMs > this.nowMs) this.nowMs = atMs;
  }

  /** Pops the next event if it is due at or before `atMs`, advancing the clock to it. */
  popDue(atMs: number): (() => void) | undefined {
    const top = this.heap.peek();
    if (top === undefined || top.atMs > atMs) return undefined;
    this.heap.pop();
    this.advanceTo(top.atMs);
    return top.run;
  }
}
