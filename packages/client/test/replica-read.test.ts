/**
 * Replica reads (`replicaRead: 'follower' | 'closest'`, issue 14): the leader answers a small
 * `txnReadIndex`, the data comes from a follower or this client's own store; the reads see
 * every write committed before they began, a cut-off or lagging replica hands the read to
 * another replica at the same ts (`askReplicas`; the leader only past
 * `REPLICA_READ_ATTEMPTS_MAX` replicas: `replica-retry.test.ts`), and a bad setting is a typed error. (The simulator's `--txn` clients read
 * through all three choices, checked by the SI checker; its mutations `replicaReadSkipsCatchUp`
 * and `replicaReadSkipsMaxTs` are caught.)
 */
import { describe, expect, it } from 'vitest';
import type { StoreRequest } from '@peerkv/store';
import { PeerKV, PeerKVError, codec, type KvService, type PdCluster } from '../src/index.ts';
import { closeTxnClusterAfterEach, start } from './txn-cluster.ts';
import { until } from './until.ts';

closeTxnClusterAfterEach();
const k = codec.text;
const t = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : codec.fromText(b));

/** A client over `c` that records which store got which request type. */
function recordingClient(c: PdCluster, extra: Partial<ConstructorParameters<typeof PeerKV>[0]>): { kv: PeerKV; served: { type: string; storeId: number }[] } {
  const served: { type: string; storeId: number }[] = [];
  const stores = {
    store: (id: number): KvService | undefined => {
      const s = c.store(id);
      if (!s) return undefined;
      return {
        storeId: id,
        handle: (q: StoreRequest, o?: Parameters<KvService['handle']>[1]) => {
          served.push({ type: q.type, storeId: id });
          return s.handle(q, o);
        },
      } as KvService;
    },
  };
  return { kv: new PeerKV({ pd: c, stores, dataModel: 'mvcc', ...extra }), served };
}

function dataLeader(c: PdCluster): number {
  const r = c.regions().find((x) => x.id !== 1)!;
  for (const s of c.stores.values()) if (s.status().regions.some((v) => v.regionId === r.id && v.role === 'leader')) return s.storeId;
  throw new Error('no leader');
}

describe('replica reads', () => {
  it('a follower and the closest replica serve reads that see every committed write; the leader only answers txnReadIndex', async () => {
    const { c, kv } = await start();
    const writer = kv('mvcc');
    await writer.batchPut([
      { key: k('a'), value: k('1') },
      { key: k('b'), value: k('2') },
    ]);
    await until('the data region has a leader', () => c.regions().some((r) => r.id !== 1));
    const leader = dataLeader(c);
    const follower = [...c.stores.keys()].find((id) => id !== leader)!;

    const viaFollower = recordingClient(c, { replicaRead: 'follower' });
    await writer.put(k('a'), k('3'));
    expect(t(await viaFollower.kv.get(k('a')))).toBe('3');
    const pairs: string[] = [];
    for await (const p of viaFollower.kv.scan({ start: k('a'), end: k('c') })) pairs.push(`${t(p.key)}=${t(p.value)}`);
    expect(pairs).toEqual(['a=3', 'b=2']);
    const reads = viaFollower.served.filter((x) => x.type === 'txnReplicaGet' || x.type === 'txnReplicaScan');
    expect(reads.length).toBeGreaterThanOrEqual(2);
    expect(reads.every((x) => x.storeId !== leader)).toBe(true);
    expect(viaFollower.served.filter((x) => x.type === 'txnReadIndex').every((x) => x.storeId === leader)).toBe(true);
    expect(viaFollower.served.some((x) => x.type === 'txnGet' || x.type === 'txnScan')).toBe(false);

    // The closest replica of a client next to a follower store is that store.
    const closest = recordingClient(c, { replicaRead: 'closest', localStoreId: follower });
    await writer.put(k('b'), k('4'));
    expect(t(await closest.kv.get(k('b')))).toBe('4');
    expect(closest.served.filter((x) => x.type === 'txnReplicaGet').map((x) => x.storeId)).toEqual([follower]);
    // Per read: the leader, as a plain read.
    expect(t(await closest.kv.get(k('b'), { replicaRead: 'leader' }))).toBe('4');
    expect(closest.served.some((x) => x.type === 'txnGet' && x.storeId === leader)).toBe(true);
    // A transaction's reads follow the client's choice too.
    await closest.kv.transaction(async (tx) => {
      expect(t(await tx.get(k('a')))).toBe('3');
      tx.put(k('c'), k('5'));
    });
    expect(closest.served.filter((x) => x.type === 'txnReplicaGet').length).toBe(2);
    for (const x of [viaFollower.kv, closest.kv]) x.close();
  });

  it("consistency 'follower' is a follower read: a follower serves it, and it sees every write acknowledged before it", async () => {
    const { c, kv } = await start();
    const writer = kv('mvcc');
    await writer.put(k('f'), k('0'));
    const leader = dataLeader(c);
    // Per read, on a client that names no replicaRead; and as the client's default consistency.
    const perRead = recordingClient(c, {});
    const byDefault = recordingClient(c, { consistency: 'follower' });
    const replicaReads = new Map<number, number>();
    for (let i = 1; i <= 5; i++) {
      await writer.put(k('f'), k(String(i)));
      expect(t(await perRead.kv.get(k('f'), { consistency: 'follower' }))).toBe(String(i));
      expect(t(await byDefault.kv.get(k('f')))).toBe(String(i));
      const pairs: string[] = [];
      for await (const p of perRead.kv.scan({ start: k('f'), end: k('g'), consistency: 'follower' })) pairs.push(`${t(p.key)}=${t(p.value)}`);
      expect(pairs).toEqual([`f=${i}`]);
    }
    await byDefault.kv.transaction(async (tx) => {
      expect(t(await tx.get(k('f')))).toBe('5');
    });
    for (const { served } of [perRead, byDefault]) {
      for (const x of served) if (x.type === 'txnReplicaGet' || x.type === 'txnReplicaScan') replicaReads.set(x.storeId, (replicaReads.get(x.storeId) ?? 0) + 1);
      // The leader answered the read indexes and served no read itself.
      expect(served.filter((x) => x.type === 'txnReadIndex').every((x) => x.storeId === leader)).toBe(true);
      expect(served.some((x) => x.type === 'txnGet' || x.type === 'txnScan')).toBe(false);
    }
    // Every read (5 gets and 5 scans per-read, 5 gets and a transaction's get by default) came from a follower.
    expect(replicaReads.get(leader)).toBeUndefined();
    expect([...replicaReads.values()].reduce((a, b) => a + b, 0)).toBe(16);
    // A per-read replicaRead still wins.
    expect(t(await perRead.kv.get(k('f'), { consistency: 'follower', replicaRead: 'leader' }))).toBe('5');
    expect(perRead.served.at(-1)).toEqual({ type: 'txnGet', storeId: leader });
    for (const x of [perRead.kv, byDefault.kv]) x.close();
  });

  it('a replica cut off from its leader cannot catch up: the read goes to another replica at the same ts', async () => {
    const { c, kv } = await start();
    const writer = kv('mvcc');
    await writer.put(k('x'), k('old'));
    const leader = dataLeader(c);
    const follower = [...c.stores.keys()].find((id) => id !== leader)!;
    const others = [...c.stores.keys()].filter((id) => id !== follower);
    c.router.partition([follower], others);
    await writer.put(k('x'), k('new'));
    const near = recordingClient(c, { replicaRead: 'closest', localStoreId: follower, requestTimeoutMs: 300 });
    expect(t(await near.kv.get(k('x')))).toBe('new');
    // The cut-off replica first (this client's own), then another, current one (`askReplicas`): not the leader's plain read.
    const asked = near.served.filter((x) => x.type === 'txnReplicaGet').map((x) => x.storeId);
    expect(asked[0]).toBe(follower);
    expect(asked.slice(1).length).toBe(1);
    expect(asked[1]).not.toBe(follower);
    expect(near.served.some((x) => x.type === 'txnGet')).toBe(false);
    c.router.heal();
    near.kv.close();
  });

  it('a replica behind its leader answers ReadIndexNotReady: the read succeeds elsewhere and its store is no suspect', async () => {
    // The lagging replica gets its leader's heartbeats (it stays a follower, alive) but none of
    // its appends, so it cannot catch up to any new read index.
    const lag = { storeId: 0, regionId: 0 };
    const { c, kv } = await start({}, { drop: (_from, to, msgs) => to === lag.storeId && msgs.some((m) => m.regionId === lag.regionId && (m.message.type === 'MsgApp' || m.message.type === 'MsgSnap')) });
    const writer = kv('mvcc');
    await writer.put(k('x'), k('old'));
    const region = c.regions().find((r) => r.id !== 1)!;
    // The lagging replica is the region's first voter: the one a stale read asks first unless its store is suspect.
    const first = region.peers.find((p) => p.role === 'voter')!;
    if (dataLeader(c) === first.storeId) {
      c.store(first.storeId)!.transferLeader(region.id, region.peers.find((p) => p.role === 'voter' && p.id !== first.id)!.id);
      await until('the first voter no longer leads', () => dataLeader(c) !== first.storeId);
    }
    Object.assign(lag, { storeId: first.storeId, regionId: region.id });
    await writer.put(k('x'), k('new'));

    const near = recordingClient(c, { replicaRead: 'closest', localStoreId: first.storeId, requestTimeoutMs: 300 });
    expect(t(await near.kv.get(k('x')))).toBe('new');
    // The lagging replica, then another replica (`askReplicas`), which serves it: no leader read.
    const asked = near.served.filter((x) => x.type === 'txnReplicaGet').map((x) => x.storeId);
    expect(asked.length).toBe(2);
    expect(asked[0]).toBe(first.storeId);
    expect(asked[1]).not.toBe(first.storeId);
    expect(near.served.some((x) => x.type === 'txnGet')).toBe(false);
    // The next replica read skips the replica found behind (its own store's, for `closest`).
    expect(t(await near.kv.get(k('x')))).toBe('new');
    const next = near.served.filter((x) => x.type === 'txnReplicaGet').slice(2);
    expect(next.length).toBe(1);
    expect(next[0].storeId).not.toBe(first.storeId);

    // Not a suspect: a read that needs no leader still goes to its store first (a suspect store
    // is asked after the other voters), from a client with no store of its own.
    const far = recordingClient(c, { replicaRead: 'follower', requestTimeoutMs: 300 });
    expect(t(await far.kv.get(k('x')))).toBe('new');
    expect(far.served.some((x) => x.type === 'txnReplicaGet' && x.storeId === first.storeId)).toBe(true);
    // What it answers is not the point here: a replica that gets no appends may not have a
    // resolved ts yet, and then a read of "whatever this device has" is Unavailable.
    await far.kv.get(k('x'), { maxStaleness: Infinity }).catch((e: unknown) => expect(e).toMatchObject({ kind: 'Unavailable' }));
    expect(far.served.find((x) => x.type === 'txnStaleGet')?.storeId).toBe(first.storeId);
    far.kv.close();
    near.kv.close();
  });

  it('refuses an unknown replicaRead with InvalidArgument', async () => {
    const { c } = await start();
    expect(() => new PeerKV({ pd: c, stores: c, dataModel: 'mvcc', replicaRead: 'nearest' as never })).toThrow(PeerKVError);
    const kv = new PeerKV({ pd: c, stores: c, dataModel: 'mvcc' });
    await expect(kv.get(k('a'), { replicaRead: 'any' as never })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    kv.close();
  });
});
