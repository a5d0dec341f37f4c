/**
 * `Slots`: a counting semaphore (bounds the writes a tab keeps in flight).
 */

/** At most `max` holders at a time; the others wait in arrival order. */
export class Slots {
  private used = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async acquire(): Promise<void> {
    while (this.used >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    this.used++;
  }

  release(): void {
    this.used--;
    this.waiters.shift()?.();
  }
}
