/**
 * The inflight window of MsgApp to one follower (etcd `tracker/inflights.go`): a bounded ring
 * of the last index of each in-flight message, freed as acknowledgements arrive.
 */
import { assert } from '../errors.ts';

export class Inflights {
  private readonly buffer: number[] = [];
  private bytes = 0;
  private readonly sizes: number[] = [];

  /**
   * @param sizeMax max messages in flight
   * @param bytesMax max bytes in flight; 0 means unlimited
   */
  constructor(
    readonly sizeMax: number,
    readonly bytesMax: number = 0,
  ) {}

  /** Records a sent message whose last entry is `index` carrying `bytes` bytes. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'cannot add into a full inflights');
    if (this.buffer.length > 0) assert(index > this.buffer[this.buffer.length - 1], 'inflights must increase');
    this.buffer.push(index);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every in-flight message whose last index is ≤ `to`. */
  freeLE(to: number): void {
    let n = 0;
    while (n < this.buffer.length && this.buffer[n] <= to) {
      this.bytes -= this.sizes[n];
      n++;
    }
    if (n > 0) {
      this.buffer.splice(0, n);
      this.sizes.splice(0, n);
    }
  }

  full(): boolean {
    return this.buffer.length >= this.sizeMax || (this.bytesMax > 0 && this.bytes >= this.bytesMax);
  }

  count(): number {
    return this.buffer.length;
  }

  reset(): void {
    this.buffer.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}
