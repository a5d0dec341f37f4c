/**
 * `lateGcLockResolver`: a store opened before its client exists hands its GC's locks to the
 * client once there is one, and leaves them for a later round (or a reader) until then.
 */
import { describe, expect, it } from 'vitest';
import type { PeerKV } from '../src/index.ts';
import { lateGcLockResolver } from '../src/index.ts';

describe('lateGcLockResolver', () => {
  it('resolves nothing while there is no client, then through the client current() returns', async () => {
    let client: PeerKV | undefined;
    const seen: unknown[] = [];
    const r = lateGcLockResolver(() => client);
    const locks = [{ key: new Uint8Array([1]), primary: new Uint8Array([1]), startTs: 5n }] as never;
    await expect(r.resolveLocks(locks)).resolves.toBeUndefined();
    client = { gcLockResolver: () => ({ resolveLocks: (l: unknown) => (seen.push(l), Promise.resolve()) }) } as unknown as PeerKV;
    await r.resolveLocks(locks);
    expect(seen).toEqual([locks]);
    client = { gcLockResolver: () => ({ resolveLocks: () => Promise.reject(new Error('primary unreachable')) }) } as unknown as PeerKV;
    await expect(r.resolveLocks(locks)).rejects.toThrow('primary unreachable');
  });
});
