/**
 * A witness credential proves a link, not a right to read (issue 14): two full stores that
 * serve data only to data-key provers (`StoreOptions.dataProofKey`) and a witness, over
 * BroadcastChannel. A caller holding only the witness credential (a client under a temporary
 * id, or the witness store's own transport) is refused get, scan and a change-feed pull with
 * the failure `DataKeyUnproven`, and a forged proof is refused; a full member's client, whose
 * transport proves the data key (`withDataKeyProof`), reads and writes through the same stores.
 * And a witness credential registers a witness only: a store claiming to be full without the
 * proof is refused its join, and a leader sends a data snapshot (plaintext pairs) only to a store
 * that proves the data key when asked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BOOTSTRAP_IDS, decodeStoreResponse, encodeStoreRequest, proveDataKey, randomTempStoreId, startNetworkStore, webCryptoEntryCipher, withDataKeyProof, DataKeyProofError, type NetworkStore, type StoreRequest } from '@peerkv/store';
import { MemoryEngine } from '@peerkv/storage';
import { MVCC_STORE_CFS } from '@peerkv/store';
import { deriveMemberKeys, deriveWitnessCredential, parseWitnessCredential, witnessClusterKeys, type ClusterKeys, type Transport } from '@peerkv/transport';
import { PeerKV, RemotePdService, RemoteStoreResolver, codec } from '../src/index.ts';
import { bcTransportFactory, TEST_NET_STORE } from './bc-transport.ts';
import { until } from './until.ts';

const t = codec.text;
const s = codec.fromText;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const epoch = { confVer: 1, version: 1 };
const region = BOOTSTRAP_IDS.dataRegion;
/** One request of each kind a witness must not get answered: a point read, a scan, a change-feed pull. */
const READS: StoreRequest[] = [
  { type: 'txnGet', regionId: region, epoch, key: t('k0'), ts: 1n, timeoutMs: 1000 },
  { type: 'txnScan', regionId: region, epoch, start: t(''), limit: 10, ts: 1n, timeoutMs: 1000 },
  { type: 'txnCdcPull', regionId: region, epoch, start: t(''), end: t('z'), fromTs: 1n, eventsMax: 10, bytesMax: 4096, waitMs: 0, timeoutMs: 1000 },
];

async function ask(tr: Pick<Transport, 'request'>, storeId: number, q: StoreRequest) {
  return decodeStoreResponse(await tr.request(storeId, encodeStoreRequest(q), { timeoutMs: 3000 }));
}

/** A new cluster's member keys and witness credential keys, and a transport factory that proves the data key (`withDataKeyProof`). */
async function newCluster() {
  const clusterId = `wdk-${randomTempStoreId()}`;
  const member = await deriveMemberKeys(clusterId, 'secret', 1000);
  const witnessKeys: ClusterKeys = await witnessClusterKeys(parseWitnessCredential(await deriveWitnessCredential(clusterId, 'secret', 1000)));
  const plain = bcTransportFactory(member.keys, cleanups);
  const proving = (id: number, identity?: Parameters<typeof plain>[1]) => withDataKeyProof(plain(id, identity), member.dataProofKey);
  return { clusterId, member, witnessKeys, proving };
}

describe('a full store serves user data only to callers that prove the data key', () => {
  it('refuses a witness credential holder get, scan and CDC (DataKeyUnproven) and serves a full member', async () => {
    const { clusterId, member, witnessKeys, proving } = await newCluster();
    const start = async (o: { address: string; bootstrap?: boolean; witness?: boolean }): Promise<NetworkStore> => {
      const ns = await startNetworkStore({
        clusterId,
        transportFactory: o.witness ? bcTransportFactory(witnessKeys, cleanups) : proving,
        store: { ...TEST_NET_STORE, ...(o.witness ? { witness: true } : { entryCipher: webCryptoEntryCipher(member.dataKey), dataProofKey: member.dataProofKey }) },
        joinTimeoutMs: 20_000,
        schedule: { maxStoreDownTimeMs: 60_000 },
        engine: await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS }),
        ...(o.bootstrap ? { bootstrap: true } : {}),
        address: o.address,
      });
      cleanups.push(() => ns.close());
      return ns;
    };
    const a = await start({ address: 'dev-a', bootstrap: true });
    const b = await start({ address: 'dev-b' });
    const w = await start({ address: 'server', witness: true });
    const fullIds = [a.store.storeId, b.store.storeId];

    // A full member's client: its transport proves the data key when a store asks.
    const ctr = proving(randomTempStoreId());
    await until('the member client sees the stores', () => [...fullIds, w.store.storeId].every((id) => ctr.peers().includes(id)));
    const kv = new PeerKV({
      pd: new RemotePdService(ctr, { candidates: () => ctr.peers(), budgetMs: 10_000, attemptTimeoutMs: 1000 }),
      stores: new RemoteStoreResolver(ctr, { requestTimeoutMs: 1000, reachable: () => ctr.peers() }),
      requestTimeoutMs: 1000,
    });
    cleanups.push(() => kv.close());
    for (let i = 0; i < 3; i++) await kv.put(t(`k${i}`), t(`v${i}`));
    expect(s((await kv.get(t('k0')))!)).toBe('v0');
    const scanned: string[] = [];
    for await (const p of kv.scan({ start: t('k'), end: t('l') })) scanned.push(s(p.value));
    expect(scanned).toEqual(['v0', 'v1', 'v2']);
    const leaderId = fullIds.find((id) => [a, b].find((n) => n.store.storeId === id)!.store.status().regions.some((r) => r.regionId === region && r.role === 'leader'))!;
    // The member's own raw requests pass the gate (whatever the region answers, it is no refusal).
    for (const q of READS) expect((await ask(ctr, leaderId, q)).type, q.type).not.toBe('failure');

    // A client holding only the witness credential links up, and is refused every read.
    const spy = bcTransportFactory(witnessKeys, cleanups)(randomTempStoreId());
    await until('the witness-credential client sees the full stores', () => fullIds.every((id) => spy.peers().includes(id)));
    for (const id of fullIds) {
      for (const q of READS) expect(await ask(spy, id, q), `${q.type} to ${id}`).toMatchObject({ type: 'failure', failure: { kind: 'DataKeyUnproven' } });
    }
    // What a witness needs stays served: PD's routing reads and the store's status.
    expect((await ask(spy, leaderId, { type: 'pdGetRegion', key: t('k0') })).type).toBe('pdRoute');
    expect((await ask(spy, leaderId, { type: 'status' })).type).toBe('status');
    // A proof under a key that is not the data-proof key (the witness's membership key) is refused, and proves nothing.
    const forged = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(7), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    await expect(proveDataKey(spy, forged, leaderId)).rejects.toBeInstanceOf(DataKeyProofError);
    expect(await ask(spy, leaderId, READS[0])).toMatchObject({ type: 'failure', failure: { kind: 'DataKeyUnproven' } });

    // The witness store's own link (its real store id), as a modified witness would use it.
    for (const q of READS) expect(await ask(w.transport, leaderId, q), `witness store ${q.type}`).toMatchObject({ type: 'failure', failure: { kind: 'DataKeyUnproven' } });
    const refused = [a, b].find((n) => n.store.storeId === leaderId)!.store.status().refused ?? {};
    expect(refused.forbiddenDataKeyUnproven).toBeGreaterThanOrEqual(2 * READS.length + 1);
    expect(refused.forbiddenDataKeyProof).toBe(1);
    // The witness still votes: the cluster keeps writing through the member.
    await kv.put(t('k3'), t('v3'));
    expect(s((await kv.get(t('k3')))!)).toBe('v3');
  }, 90_000);

  it('registers a witness credential as a witness only, and sends a data snapshot only to a store that proved the data key when asked', async () => {
    const { clusterId, member, witnessKeys, proving } = await newCluster();
    // A short log, so a store added later needs a snapshot (the data in the clear).
    const compacting = { ...TEST_NET_STORE, logGcThresholdEntries: 8, logGcKeepEntries: 2 };
    const options = async (o: { address: string; full: boolean; transport: typeof proving; bootstrap?: boolean; joinTimeoutMs?: number }) => ({
      clusterId,
      transportFactory: o.transport,
      store: { ...compacting, ...(o.full ? { entryCipher: webCryptoEntryCipher(member.dataKey), dataProofKey: member.dataProofKey } : {}) },
      joinTimeoutMs: o.joinTimeoutMs ?? 20_000,
      schedule: { maxStoreDownTimeMs: 60_000 },
      engine: await MemoryEngine.open({ columnFamilies: MVCC_STORE_CFS }),
      ...(o.bootstrap ? { bootstrap: true } : {}),
      address: o.address,
    });
    const start = async (o: Parameters<typeof options>[0]): Promise<NetworkStore> => {
      const ns = await startNetworkStore(await options(o));
      cleanups.push(() => ns.close());
      return ns;
    };
    const a = await start({ address: 'dev-a', full: true, transport: proving, bootstrap: true });
    const ctr = proving(randomTempStoreId());
    await until('the member client sees store a', () => ctr.peers().includes(a.store.storeId));
    const kv = new PeerKV({
      pd: new RemotePdService(ctr, { candidates: () => ctr.peers(), budgetMs: 10_000, attemptTimeoutMs: 1000 }),
      stores: new RemoteStoreResolver(ctr, { requestTimeoutMs: 1000, reachable: () => ctr.peers() }),
      requestTimeoutMs: 1000,
    });
    cleanups.push(() => kv.close());
    for (let i = 0; i < 30; i++) await kv.put(t(`k${String(i).padStart(2, '0')}`), t(`v${i}`));
    await until('store a compacted its log', () => a.store.status().counters.logCompactions > 0);

    // A store holding only the witness credential, claiming to be full: PD does not register it.
    await expect(startNetworkStore(await options({ address: 'spy', full: false, transport: bcTransportFactory(witnessKeys, cleanups), joinTimeoutMs: 3000 }))).rejects.toThrow(/DataKeyUnproven/);
    expect(a.store.status().refused?.forbiddenFullStoreUnproven).toBeGreaterThanOrEqual(1);

    // A full store joins: it proves the data key when the leader asks, and is sent the snapshot.
    const b = await start({ address: 'dev-b', full: true, transport: proving });
    const dataKeys = async (n: NetworkStore) => (await n.store.regionDigests()).find((d) => d.regionId === region)?.keys ?? 0;
    await until('store b holds the data', async () => (await dataKeys(b)) >= 30, 30_000);
    expect(b.store.status().counters.snapshotsInstalled).toBeGreaterThanOrEqual(1);

    // A store PD did admit as full (its join proved the data key: as if PD were misled) whose
    // store cannot prove it when a leader asks: it is sent no data snapshot, counted.
    const c = await start({ address: 'dev-c', full: false, transport: proving });
    const leaderOf = () => [a, b].find((n) => n.store.status().regions.some((r) => r.regionId === region && r.role === 'leader'));
    await until('PD placed a replica of the data region on store c', () => c.store.status().regions.some((r) => r.regionId === region));
    // Raft offers it again and again (and the leader asks again): withheld each time.
    await until('data snapshots to store c were withheld', () => (leaderOf()?.store.status().refused?.snapshotToDataKeyUnproven ?? 0) >= 2, 30_000);
    expect(await dataKeys(c)).toBe(0);
    // Its replica stays uninitialized: no peers known, nothing applied.
    expect(c.store.status().regions.find((r) => r.regionId === region)).toMatchObject({ applied: 0, peers: [] });
    // The full members keep serving.
    await kv.put(t('k30'), t('v30'));
    expect(s((await kv.get(t('k30')))!)).toBe('v30');
  }, 120_000);
});
