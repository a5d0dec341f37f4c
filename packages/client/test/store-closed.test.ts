/**
 * A store that closes under a request rejects it with `StoreClosedError` (`Store.handle`); the
 * client treats that as a store that never answered and retries elsewhere. (In the browser,
 * `cluster-faults.spec.ts` (mvcc) stops the leader store with transactions in flight.)
 */
import { afterEach, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { StoreClosedError } from '@peerkv/store';
import { LocalCluster, PeerKV, codec, type KvService } from '../src/index.ts';

const t = codec.text;
let local: LocalCluster | undefined;
afterEach(async () => {
  await local?.close();
  local = undefined;
});

async function cluster(): Promise<LocalCluster> {
  const disks = new Map<number, MemoryDisk>();
  const c = new LocalCluster({
    openEngine: async (id, cfs) => {
      if (!disks.has(id)) disks.set(id, new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(id) });
    },
    store: { tickIntervalMs: 10 },
  });
  for (const id of [1, 2, 3]) await c.startStore(id);
  await c.bootstrap([1, 2, 3]);
  return c;
}

it('the client retries a store that closed under its request elsewhere', async () => {
  local = await cluster();
  const seed = new PeerKV({ dataModel: 'raw', pd: local, stores: local });
  await seed.put(t('k'), t('v'));
  seed.close();
  let thrown = 0;
  const stores = {
    store: (id: number): KvService | undefined => {
      const s = local!.store(id);
      if (!s) return undefined;
      return {
        handle: (q, o) => {
          if (thrown++ === 0) return Promise.reject(new StoreClosedError(`store ${id} closed`));
          return s.handle(q, o);
        },
      } as KvService;
    },
  };
  const kv = new PeerKV({ dataModel: 'raw', pd: local, stores });
  expect(codec.fromText((await kv.get(t('k')))!)).toBe('v');
  expect(thrown).toBeGreaterThan(1);
  kv.close();
});
