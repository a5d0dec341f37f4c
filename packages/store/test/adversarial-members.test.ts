/**
 * Issue 13, finding 6: what a member holding the cluster secret can no longer do to a store.
 * Each attack is refused, counted, and loses nothing:
 * - a flood of forged leader messages for made-up region ids creates at most
 *   `pendingReplicasMax` replicas (and `pendingReplicasPerSenderMax` per sending store), while
 *   a real leader's message still creates its replica, and replicas PD does not know that stay
 *   silent and never voted are dropped after `PENDING_REPLICA_SILENT_HEARTBEATS`, freeing the caps;
 * - a member posing as another store (its link authenticated as store 7) cannot heartbeat,
 *   re-register or report regions for store 2: `Forbidden`, counted `forbiddenOtherStore`, PD's
 *   view unchanged;
 * - a storeless client (a temporary id) cannot call admin requests (`forbiddenAdmin`), report
 *   as a store (`forbiddenNotStore`) or send Raft messages (`raftFromTempId`), and a forged,
 *   replayed, stale or misaddressed operator envelope is refused (`forbiddenOperatorProof`);
 *   with the operator key it can, and its data requests are served throughout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region, RegionHeartbeat } from '@peerkv/pd';
import { CAMPAIGN_TRANSFER, type Message } from '@peerkv/raft';
import { MemoryEngine } from '@peerkv/storage';
import { deriveOperatorKey, generateClusterSecret, generateStoreKeyPair, type RegionMessage, type Transport } from '@peerkv/transport';
import { BOOTSTRAP_IDS, LocalRouter, LocalRpc, PD_REGION_ID, PENDING_REPLICA_SILENT_HEARTBEATS, PENDING_REPLICAS_MAX, PENDING_REPLICAS_PER_SENDER_MAX, STORE_CFS, Store, TEMP_STORE_ID_MIN } from '../src/index.ts';
import { bindStore, decodeStoreResponse, encodeStoreRequest, serveStore, signOperatorRequest, type Result, type StoreRequest, type StoreResponse } from '../src/index.ts';
import { StubPd, until } from './helpers.ts';

const opened: Store[] = [];

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

/** A PD that knows the regions in `known` (with their peers), and no other. */
class KnowingPd extends StubPd {
  readonly known = new Map<number, Region>();
  getRegionById(regionId: number): Promise<Result<{ region: Region } | undefined>> {
    const region = this.known.get(regionId);
    return Promise.resolve({ ok: true, value: region ? { region } : undefined });
  }
}

async function openStore(storeId: number, pdClient?: KnowingPd): Promise<Store> {
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const s = await Store.open({ dataModel: 'raw', storeId, clusterId: 'adv', engine, transport: { send: () => {} }, tickIntervalMs: 10, ...(pdClient ? { pdClient, heartbeatIntervalTicks: 1 } : {}) });
  opened.push(s);
  return s;
}

/** A leader's heartbeat for region `regionId` to this store's would-be peer `peerId`. */
function heartbeat(regionId: number, peerId: number): RegionMessage {
  const message: Message = { type: 'MsgHeartbeat', to: peerId, from: peerId + 1, term: 7, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
  return { regionId, regionEpoch: { confVer: 9, version: 9 }, message };
}

describe('replicas created on demand (issue 13, finding 6)', () => {
  it('a flood of forged messages for unknown region ids creates at most the caps, and is counted', async () => {
    const s = await openStore(1);
    // One sender: 500 made-up regions, a replica each if nothing stopped it.
    s.receive(7, Array.from({ length: 500 }, (_, i) => heartbeat(10_000 + i, 50_000 + 2 * i)));
    await until('the per-sender cap', () => s.regionIds().length >= PENDING_REPLICAS_PER_SENDER_MAX);
    expect(s.regionIds()).toHaveLength(PENDING_REPLICAS_PER_SENDER_MAX);
    expect(s.status().refused?.pendingReplicasPerSenderFull).toBe(500 - PENDING_REPLICAS_PER_SENDER_MAX);
    // Many senders (a member posing as every store id): the store-wide cap holds.
    for (let sender = 100; sender < 120; sender++) {
      s.receive(sender, Array.from({ length: 50 }, (_, i) => heartbeat(20_000 + sender * 100 + i, 900_000 + sender * 1000 + 2 * i)));
    }
    await until('the store-wide cap', () => s.regionIds().length >= PENDING_REPLICAS_MAX);
    expect(s.regionIds()).toHaveLength(PENDING_REPLICAS_MAX);
    expect(s.status().refused?.pendingReplicasFull).toBeGreaterThan(0);
  });

  it('a real leader still gets its replica while another sender floods', async () => {
    const s = await openStore(1);
    s.receive(7, Array.from({ length: 200 }, (_, i) => heartbeat(10_000 + i, 50_000 + 2 * i)));
    await until('the flood capped', () => s.regionIds().length >= PENDING_REPLICAS_PER_SENDER_MAX);
    s.receive(2, [heartbeat(42, 4242)]);
    await until('the real replica', () => s.regionIds().includes(42));
    expect(s.regionIds()).toHaveLength(PENDING_REPLICAS_PER_SENDER_MAX + 1);
  });

  it('drops silent replicas PD does not know that never voted, which frees the caps; keeps one that voted and one PD knows', async () => {
    const pd = new KnowingPd();
    const s = await openStore(1, pd);
    s.receive(7, Array.from({ length: 40 }, (_, i) => heartbeat(10_000 + i, 50_000 + 2 * i)));
    await until('the per-sender cap', () => s.regionIds().length >= PENDING_REPLICAS_PER_SENDER_MAX);
    // Two from another sender: one PD knows with this peer, one that votes.
    pd.known.set(42, { id: 42, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 9, version: 9 }, peers: [{ id: 4242, storeId: 1, role: 'voter' }] });
    s.receive(2, [heartbeat(42, 4242), heartbeat(43, 4343)]);
    await until('both made', () => s.regionIds().includes(42) && s.regionIds().includes(43));
    // A leader transfer's vote (it overrides the lease of the leader just heard): granted.
    const vote: Message = { type: 'MsgVote', to: 4343, from: 4344, term: 9, logTerm: 6, index: 20, entries: [], commit: 0, reject: false, rejectHint: 0, context: CAMPAIGN_TRANSFER };
    s.receive(2, [{ regionId: 43, regionEpoch: { confVer: 9, version: 9 }, message: vote }]);
    // Ten heartbeats of silence (10 ms ticks, a heartbeat a tick), then PD is asked.
    await until('the forged ones dropped', () => s.status().refused?.pendingReplicasReclaimed === PENDING_REPLICAS_PER_SENDER_MAX, 5000);
    expect(PENDING_REPLICA_SILENT_HEARTBEATS).toBeGreaterThan(1);
    // The sender's slots are free again; that one, made after 42 and 43, goes the same way while they stay.
    s.receive(7, [heartbeat(20_000, 70_000)]);
    await until('a new replica', () => s.regionIds().includes(20_000));
    await until('it is dropped too', () => !s.regionIds().includes(20_000), 5000);
    expect(s.regionIds().sort()).toEqual([42, 43]);
    expect(s.status().refused?.pendingReplicasReclaimed).toBe(PENDING_REPLICAS_PER_SENDER_MAX + 1);
  });
});

/** A bootstrapped one-store cluster (store 2 hosts PD and the data region), served over `LocalRpc` with an operator key. */
/** `linkKeys`: the key each caller's link proved (`ServeStoreOptions.linkKey`); without it, none is checked. */
async function servedCluster(publicKey?: Uint8Array, linkKeys?: Map<number, Uint8Array>): Promise<{ s: Store; call: (from: number, q: StoreRequest | Uint8Array) => Promise<StoreResponse>; operatorKey: CryptoKey }> {
  const router = new LocalRouter();
  const rpc = new LocalRpc({ router, requestTimeoutMs: 3000 });
  const engine = await MemoryEngine.open({ columnFamilies: STORE_CFS });
  const s = await Store.open({ dataModel: 'raw', storeId: BOOTSTRAP_IDS.store, clusterId: 'adv', engine, transport: router.transportFor(BOOTSTRAP_IDS.store), tickIntervalMs: 10 });
  opened.push(s);
  router.register(s);
  const boot = await s.bootstrapCluster({ clusterNumber: 1, address: 'real:2', ...(publicKey ? { publicKey } : {}) });
  expect(boot.ok).toBe(true);
  await until('PD leads', () => s.pdIsLeader() && s.status().regions.some((r) => r.regionId === BOOTSTRAP_IDS.dataRegion && r.role === 'leader'));
  const operatorKey = await deriveOperatorKey('adv', generateClusterSecret());
  serveStore(s, rpc.endpoint(s.storeId), { operatorKey, countRefused: (r) => s.countRefused(r), ...(linkKeys ? { linkKey: (id: number) => linkKeys.get(id) } : {}) });
  const call = async (from: number, q: StoreRequest | Uint8Array) => decodeStoreResponse(await rpc.request(from, s.storeId, q instanceof Uint8Array ? q : encodeStoreRequest(q)));
  return { s, call, operatorKey };
}

const enc = new TextEncoder();
const forbidden = { type: 'failure', failure: { kind: 'Forbidden' } };

describe('authorisation by role (issue 13, finding 6)', () => {
  it('a member posing as another store cannot heartbeat, re-register or report regions for it; PD is unchanged', async () => {
    const { s, call } = await servedCluster();
    const pd = () => s.pdState()!;
    const me = BOOTSTRAP_IDS.store;
    const metaBefore = pd().getStore(me)!.meta;
    const dataBefore = pd().getRegionById(BOOTSTRAP_IDS.dataRegion)!.region;
    // PD's own group as its replica here has it (PD's routing may not list it yet).
    const pdGroup = s.status().regions.find((r) => r.regionId === PD_REGION_ID)!;
    const pdBefore = { id: PD_REGION_ID, startKey: pdGroup.startKey, endKey: pdGroup.endKey, epoch: pdGroup.epoch, peers: pdGroup.peers };
    const stats = { storeId: me, capacityBytes: 1, usedBytes: 1, availableBytes: 0, regionCount: 0, leaderCount: 0, draining: true };
    expect(await call(7, { type: 'pdStoreHeartbeat', stats })).toMatchObject(forbidden);
    expect(await call(7, { type: 'pdPutStore', storeId: me, address: 'attacker:7', labels: {} })).toMatchObject(forbidden);
    const bumped = (r: typeof dataBefore): RegionHeartbeat => ({
      region: { ...r, epoch: { confVer: r.epoch.confVer + 5, version: r.epoch.version + 5 }, peers: [{ id: 999, storeId: me, role: 'voter' }] },
      leader: { id: 999, storeId: me, role: 'voter' },
      downPeers: [],
      pendingPeers: [],
      approximateSizeBytes: 0,
      approximateKeys: 0,
      writtenBytesPerSec: 0,
      term: 99,
    });
    expect(await call(7, { type: 'pdRegionHeartbeat', heartbeat: bumped(dataBefore) })).toMatchObject(forbidden);
    expect(await call(7, { type: 'pdRegionHeartbeat', heartbeat: bumped(pdBefore) })).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenOtherStore).toBe(4);
    expect(pd().getStore(me)!.meta).toEqual(metaBefore);
    expect(pd().getStore(me)!.stats?.draining ?? false).toBe(false);
    expect(pd().getRegionById(BOOTSTRAP_IDS.dataRegion)!.region).toEqual(dataBefore);
    expect(pd().getRegionById(PD_REGION_ID)?.region.epoch.version ?? 0).toBeLessThanOrEqual(pdBefore.epoch.version);
    // Its own reports are served (PD answers; whatever it says, it is not Forbidden).
    expect(await call(7, { type: 'pdStoreHeartbeat', stats: { ...stats, storeId: 7, draining: false } })).not.toMatchObject(forbidden);
    expect(await call(7, { type: 'pdPutStore', storeId: 7, address: 'honest:7', labels: {} })).not.toMatchObject(forbidden);
  });

  it('a storeless client cannot call admin requests or report as a store, but reads and writes; the operator key admits admin', async () => {
    const { s, call, operatorKey } = await servedCluster();
    const client = TEMP_STORE_ID_MIN + 12345;
    const region = s.pdState()!.getRegionById(BOOTSTRAP_IDS.dataRegion)!.region;
    const dataPeer = region.peers[0];
    const admin: StoreRequest[] = [
      { type: 'split', regionId: region.id, epoch: region.epoch, splitKey: enc.encode('m'), newRegionId: 500, newPeerIds: [501] },
      { type: 'changePeers', regionId: region.id, changes: [{ type: 'addLearnerNode', peer: { id: 502, storeId: 7, role: 'learner' } }] },
      { type: 'transferLeader', regionId: region.id, peerId: 777 },
      { type: 'campaign', regionId: region.id },
      { type: 'setDraining', draining: true },
    ];
    for (const q of admin) expect(await call(client, q), q.type).toMatchObject(forbidden);
    // A member store is no operator either.
    expect(await call(7, admin[0])).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenAdmin).toBe(admin.length + 1);
    expect(s.draining).toBe(false);
    expect(s.regionIds().sort()).toEqual([PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].sort());
    expect(s.status().regions.find((r) => r.regionId === region.id)?.peers).toEqual(region.peers);
    // A temporary id is not a store: no store reports (a join, id 0, is allowed).
    const stats = { storeId: client, capacityBytes: 1, usedBytes: 1, availableBytes: 0, regionCount: 0, leaderCount: 0, draining: false };
    expect(await call(client, { type: 'pdStoreHeartbeat', stats })).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenNotStore).toBe(1);
    // Forged, misaddressed, stale and replayed envelopes.
    const wrongKey = await deriveOperatorKey('adv', generateClusterSecret());
    const drain = encodeStoreRequest({ type: 'setDraining', draining: true });
    expect(await call(client, await signOperatorRequest(wrongKey, s.storeId, drain))).toMatchObject(forbidden);
    expect(await call(client, await signOperatorRequest(operatorKey, 99, drain))).toMatchObject(forbidden);
    expect(await call(client, await signOperatorRequest(operatorKey, s.storeId, drain, Date.now() - 10 * 60_000))).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenOperatorProof).toBe(3);
    expect(s.draining).toBe(false);
    // Signed with the operator key it is served, once.
    const signed = await signOperatorRequest(operatorKey, s.storeId, drain);
    expect(await call(client, signed)).toEqual({ type: 'ack' });
    expect(s.draining).toBe(true);
    expect(await call(client, signed)).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenOperatorProof).toBe(4);
    // Data requests are served to the client all along; nothing was lost.
    const epoch = s.status().regions.find((r) => r.regionId === region.id)!.epoch;
    const w = await call(client, { type: 'write', regionId: region.id, epoch, clientId: 'c', seq: 1, ops: [{ type: 'put', cf: 'default', key: enc.encode('k'), value: enc.encode('v') }] });
    expect(w).toEqual({ type: 'unit', result: { ok: true, value: undefined } });
    expect(await call(client, { type: 'get', regionId: region.id, epoch, key: enc.encode('k'), consistency: 'linearizable' })).toEqual({ type: 'value', result: { ok: true, value: enc.encode('v') } });
    expect(dataPeer.storeId).toBe(s.storeId);
  });

  it('drops Raft messages from a temporary id, and counts them', async () => {
    const s = await openStore(1);
    let deliver: ((b: { fromStoreId: number; messages: RegionMessage[] }) => void) | undefined;
    const t = { onMessage: (h: typeof deliver) => ((deliver = h), () => {}), onPeer: () => () => {}, onRequest: () => () => {} } as unknown as Pick<Transport, 'onMessage' | 'onPeer' | 'onRequest'>;
    bindStore(s, t);
    deliver!({ fromStoreId: TEMP_STORE_ID_MIN + 1, messages: [heartbeat(77, 7700)] });
    expect(s.status().refused?.raftFromTempId).toBe(1);
    deliver!({ fromStoreId: 3, messages: [heartbeat(78, 7800)] });
    await until('the store peer', () => s.regionIds().includes(78));
    expect(s.regionIds()).toEqual([78]);
  });
});

describe('store identity keys in PD (issue 13, finding 6)', () => {
  it('PD records a store key at bootstrap and at a join; another key for an existing id is refused, typed and counted, and changes nothing', async () => {
    const own = await generateStoreKeyPair();
    const { s, call } = await servedCluster(own.publicKey);
    const me = BOOTSTRAP_IDS.store;
    const pd = () => s.pdState()!;
    expect(pd().getStore(me)!.meta.publicKey).toEqual(own.publicKey);
    // A joiner (a temporary id) joins with its key: recorded.
    const joiner = await generateStoreKeyPair();
    const joined = await call(TEMP_STORE_ID_MIN + 7, { type: 'pdPutStore', storeId: 0, address: 'new:1', labels: {}, publicKey: joiner.publicKey });
    expect(joined).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'storePut', isNew: true } } });
    const newId = ((joined as { result: { value: { storeId: number } } }).result.value).storeId;
    expect(pd().getStore(newId)!.meta.publicKey).toEqual(joiner.publicKey);
    // A member whose link says it is store 2 (the secret lets it prove any id today) re-registers
    // store 2 with its own key: PD refuses, the store counts it, the recorded key stays.
    const attacker = await generateStoreKeyPair();
    const metaBefore = pd().getStore(me)!.meta;
    const r = await call(me, { type: 'pdPutStore', storeId: me, address: 'attacker:2', labels: {}, publicKey: attacker.publicKey });
    expect(r).toEqual({ type: 'pdApply', result: { ok: true, value: { kind: 'refused', error: { kind: 'StoreKeyMismatch', storeId: me } } } });
    expect(s.status().refused?.storeKeyMismatch).toBe(1);
    expect(pd().getStore(me)!.meta).toEqual(metaBefore);
    const r2 = await call(newId, { type: 'pdPutStore', storeId: newId, address: 'attacker:n', labels: {}, publicKey: attacker.publicKey });
    expect(r2).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'refused', error: { kind: 'StoreKeyMismatch' } } } });
    expect(s.status().refused?.storeKeyMismatch).toBe(2);
    expect(pd().getStore(newId)!.meta.publicKey).toEqual(joiner.publicKey);
    expect(pd().getStore(newId)!.meta.address).toBe('new:1');
    // PD's store read answers the key (what stores learn keys from).
    expect(await call(TEMP_STORE_ID_MIN + 8, { type: 'pdGetStore', storeId: newId })).toMatchObject({ type: 'pdStore', result: { ok: true, value: { id: newId, publicKey: joiner.publicKey } } });
    // The store itself re-registering with its own key is served.
    expect(await call(newId, { type: 'pdPutStore', storeId: newId, address: 'new:2', labels: {}, publicKey: joiner.publicKey })).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'storePut' } } });
    expect(pd().getStore(newId)!.meta.address).toBe('new:2');
  });

  it('with link keys, PD records a key only from a link that proved it: a join or re-registration naming another key is Forbidden, counted, and changes nothing', async () => {
    const own = await generateStoreKeyPair();
    const linkKeys = new Map<number, Uint8Array>([[BOOTSTRAP_IDS.store, own.publicKey]]);
    const { s, call } = await servedCluster(own.publicKey, linkKeys);
    const pd = () => s.pdState()!;
    const storesBefore = pd().listStores().length;
    const joiner = await generateStoreKeyPair();
    const other = await generateStoreKeyPair();
    const joinAs = (from: number, publicKey: Uint8Array) => call(from, { type: 'pdPutStore', storeId: 0, address: `join:${from}`, labels: {}, publicKey });
    // A temporary id whose link proved no key, then one whose link proved another key, names
    // the joiner's key: refused before PD is asked, counted, no store added.
    expect(await joinAs(TEMP_STORE_ID_MIN + 1, joiner.publicKey)).toMatchObject(forbidden);
    linkKeys.set(TEMP_STORE_ID_MIN + 2, other.publicKey);
    expect(await joinAs(TEMP_STORE_ID_MIN + 2, joiner.publicKey)).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenKeyUnproven).toBe(2);
    expect(pd().listStores()).toHaveLength(storesBefore);
    // A join with no key at all names nothing to prove (a store of an earlier version): served.
    // The joiner's own link, which proved its key, joins with it.
    linkKeys.set(TEMP_STORE_ID_MIN + 3, joiner.publicKey);
    const joined = await joinAs(TEMP_STORE_ID_MIN + 3, joiner.publicKey);
    expect(joined).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'storePut', isNew: true } } });
    const newId = ((joined as { result: { value: { storeId: number } } }).result.value).storeId;
    expect(pd().getStore(newId)!.meta.publicKey).toEqual(joiner.publicKey);
    // A store id with no key recorded yet (a store of an earlier version) is claimed under a key
    // its caller's link did not prove: refused, and the id stays keyless for its real owner.
    const keyless = await call(TEMP_STORE_ID_MIN + 4, { type: 'pdPutStore', storeId: 0, address: 'old:1', labels: {} });
    expect(keyless).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'storePut', isNew: true } } });
    const oldId = ((keyless as { result: { value: { storeId: number } } }).result.value).storeId;
    linkKeys.set(oldId, other.publicKey);
    expect(await call(oldId, { type: 'pdPutStore', storeId: oldId, address: 'old:1', labels: {}, publicKey: joiner.publicKey })).toMatchObject(forbidden);
    expect(s.status().refused?.forbiddenKeyUnproven).toBe(3);
    expect(pd().getStore(oldId)!.meta.publicKey).toBeUndefined();
    // Its link's own key is recorded.
    expect(await call(oldId, { type: 'pdPutStore', storeId: oldId, address: 'old:1', labels: {}, publicKey: other.publicKey })).toMatchObject({ type: 'pdApply', result: { ok: true, value: { kind: 'storePut' } } });
    expect(pd().getStore(oldId)!.meta.publicKey).toEqual(other.publicKey);
  });
});
