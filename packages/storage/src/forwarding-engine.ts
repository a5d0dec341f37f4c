/**
 * An engine that forwards every call to another: the base of wrappers that change one thing
 * (slow writes, a fault, a lost read) and leave the rest as the inner engine does it.
 */
import type { KvEngine, KvSnapshot, ScanOptions, WriteBatch, WriteOptions } from './engine.ts';

export class ForwardingEngine implements KvEngine {
  constructor(readonly inner: KvEngine) {}
  get kind(): KvEngine['kind'] {
    return this.inner.kind;
  }
  get columnFamilies(): readonly string[] {
    return this.inner.columnFamilies;
  }
  get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.inner.get(cf, key);
  }
  scan(cf: string, o?: ScanOptions): AsyncIterableIterator<{ key: Uint8Array; value: Uint8Array }> {
    return this.inner.scan(cf, o);
  }
  write(batch: WriteBatch, o: WriteOptions): Promise<void> {
    return this.inner.write(batch, o);
  }
  approximateSize(cf: string, range: { start?: Uint8Array; end?: Uint8Array }): Promise<number> {
    return this.inner.approximateSize(cf, range);
  }
  snapshot(): Promise<KvSnapshot> {
    return this.inner.snapshot();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
