/**
 * `StampWindow`: numbers a tab's stamped writes (1, 2, ...) and says which are finished. The
 * stores keep completion records per client and region above the client's ack floor, at most
 * `CLIENT_WRITE_WINDOW_SEQS` of them (store `dedup.ts`, after RIFL), so a tab:
 *
 * - sends every write with its ack floor: the oldest seq still waiting for its final answer in
 *   this tab (every seq below it was answered, success or failure, and is never sent again);
 * - numbers a new write only within `windowSeqs` of that floor, waiting otherwise.
 */

/** A tab's write numbers; see the module header. */
export class StampWindow {
  private lastSeq = 0;
  /** Seqs waiting for their final answer; a Set iterates in insertion order, so ascending. */
  private readonly inFlight = new Set<number>();
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly windowSeqs: number) {}

  /** The next write number, once it lies within the window above the ack floor. */
  async begin(): Promise<number> {
    while (this.lastSeq + 1 >= this.ackFloor() + this.windowSeqs) await new Promise<void>((r) => this.waiters.push(r));
    const seq = ++this.lastSeq;
    this.inFlight.add(seq);
    return seq;
  }

  /** Write `seq` has its final answer: it is never sent again. */
  end(seq: number): void {
    this.inFlight.delete(seq);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Every seq below this has its final answer: the oldest in flight, else the next to use. */
  ackFloor(): number {
    for (const seq of this.inFlight) return seq;
    return this.lastSeq + 1;
  }

  /** Writes waiting for their answer. */
  get size(): number {
    return this.inFlight.size;
  }
}
