import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE_CONFIG, PdStateMachine, encodePdCommand } from '../src/index.ts';
import { bootstrapCommand, bootstrapped, expectKind, heartbeat, joinStores, k, peer, region, stats } from './helpers.ts';

describe('bootstrap', () => {
  it('happens once; a second bootstrap is refused and changes nothing', () => {
    const sm = bootstrapped();
    const before = sm.snapshot();
    const again = expectKind(sm.apply({ ...bootstrapCommand(), clusterId: 8 }), 'refused');
    expect(again.error).toEqual({ kind: 'AlreadyBootstrapped', clusterId: 7 });
    expect(sm.snapshot()).toEqual(before);
  });

  it('creates the first store, the region covering all keys and the PD group; ids start past them', () => {
    const sm = bootstrapped();
    expect(sm.clusterId).toBe(7);
    expect(sm.getStore(1)?.meta.state).toBe('up');
    expect(sm.getRegion(k(''))?.region.id).toBe(2);
    expect(sm.getRegion(k('zzz'))?.leader).toEqual(peer(3, 1));
    expect(sm.pdGroup?.region.id).toBe(100);
    expect(sm.idHighWater).toBe(101);
  });

  it('refuses commands before bootstrap and malformed bootstraps', () => {
    const sm = PdStateMachine.create();
    expect(expectKind(sm.apply({ kind: 'putStore', storeId: 0, address: 'a', labels: {}, nowMs: 0 }), 'refused').error.kind).toBe('NotBootstrapped');
    expect(expectKind(sm.apply({ kind: 'allocIds', count: 5, requesterId: 1, requesterTerm: 1, requestSeq: 1 }), 'refused').error.kind).toBe('NotBootstrapped');
    const partial = { ...bootstrapCommand(), region: region(2, 'a', '', [peer(3, 1)]) };
    expect(expectKind(sm.apply(partial), 'refused').error.kind).toBe('InvalidArgument');
    const dupIds = { ...bootstrapCommand(), region: region(2, '', '', [peer(2, 1)]) };
    expect(expectKind(sm.apply(dupIds), 'refused').error.kind).toBe('InvalidArgument');
    expect(sm.isBootstrapped).toBe(false);
  });

  it('refuses undecodable entries without throwing', () => {
    const sm = bootstrapped();
    expect(expectKind(sm.applyEntry(Uint8Array.of(200)), 'refused').error.kind).toBe('MalformedCommand');
    expect(expectKind(sm.applyEntry(encodePdCommand({ kind: 'tsoSaveWindow', maxPhysicalMs: 5, requesterId: 101, requesterTerm: 2 })), 'tsoWindowSaved').maxPersistedPhysicalMs).toBe(5);
  });
});

describe('stores', () => {
  it('gives each joining store a new id; a wiped store comes back as a new store and its old incarnation goes offline', () => {
    const sm = bootstrapped();
    const first = expectKind(sm.apply({ kind: 'putStore', storeId: 0, address: 'tab-a', labels: { device: 'd2' }, nowMs: 5 }), 'storePut');
    expect(first.isNew).toBe(true);
    expect(first.storeId).toBeGreaterThan(101);
    const again = expectKind(sm.apply({ kind: 'putStore', storeId: 0, address: 'tab-a', labels: { device: 'd2' }, nowMs: 6 }), 'storePut');
    expect(again.storeId).toBeGreaterThan(first.storeId);
    expect(again.replacedStoreIds).toEqual([first.storeId]);
    expect(sm.getStore(first.storeId)?.meta.state).toBe('offline');
    const restart = expectKind(sm.apply({ kind: 'putStore', storeId: again.storeId, address: 'tab-a2', labels: {}, nowMs: 7 }), 'storePut');
    expect(restart.isNew).toBe(false);
    expect(sm.getStore(again.storeId)?.meta.address).toBe('tab-a2');
  });

  it('refuses an unknown store id', () => {
    const sm = bootstrapped();
    expect(expectKind(sm.apply({ kind: 'putStore', storeId: 555, address: 'x', labels: {}, nowMs: 0 }), 'refused').error).toEqual({ kind: 'StoreNotFound', storeId: 555 });
  });

  it('records heartbeats with the proposer clock', () => {
    const sm = bootstrapped();
    expectKind(sm.apply({ kind: 'storeHeartbeat', stats: stats(1, { leaderCount: 1 }), nowMs: 9000 }), 'storeUpdated');
    expect(sm.getStore(1)?.lastHeartbeatMs).toBe(9000);
    expect(sm.getStore(1)?.stats?.leaderCount).toBe(1);
    expect(expectKind(sm.apply({ kind: 'storeHeartbeat', stats: stats(42), nowMs: 1 }), 'refused').error.kind).toBe('StoreNotFound');
  });

  it('moves up → offline → tombstone only when empty; tombstone is final', () => {
    const sm = bootstrapped();
    const [s] = joinStores(sm, ['d2']);
    expect(expectKind(sm.apply({ kind: 'setStoreState', storeId: s, state: 'tombstone', force: false }), 'refused').error.kind).toBe('InvalidStoreStateChange');
    expectKind(sm.apply({ kind: 'setStoreState', storeId: s, state: 'offline', force: false }), 'storeUpdated');
    expectKind(sm.apply({ kind: 'setStoreState', storeId: s, state: 'tombstone', force: false }), 'storeUpdated');
    expect(expectKind(sm.apply({ kind: 'setStoreState', storeId: s, state: 'up', force: true }), 'refused').error.kind).toBe('InvalidStoreStateChange');
    expect(expectKind(sm.apply({ kind: 'storeHeartbeat', stats: stats(s), nowMs: 1 }), 'refused').error.kind).toBe('StoreTombstoned');
    expect(sm.listStores().map((x) => x.meta.id)).toEqual([1]);
    expect(sm.listStores(true).map((x) => x.meta.id)).toEqual([1, s]);
  });

  it('refuses to tombstone a store that still holds peers unless forced', () => {
    const sm = bootstrapped();
    expectKind(sm.apply({ kind: 'setStoreState', storeId: 1, state: 'offline', force: false }), 'storeUpdated');
    expect(expectKind(sm.apply({ kind: 'setStoreState', storeId: 1, state: 'tombstone', force: false }), 'refused').error).toEqual({
      kind: 'StoreNotEmpty',
      storeId: 1,
      peerCount: 2,
    });
    expectKind(sm.apply({ kind: 'setStoreState', storeId: 1, state: 'tombstone', force: true }), 'storeUpdated');
  });
});

describe('id allocation and TSO bound', () => {
  it('hands out consecutive disjoint batches past the high-water mark', () => {
    const sm = bootstrapped();
    const a = expectKind(sm.apply({ kind: 'allocIds', count: 10, requesterId: 101, requesterTerm: 2, requestSeq: 1 }), 'idsAllocated');
    const b = expectKind(sm.apply({ kind: 'allocIds', count: 5, requesterId: 101, requesterTerm: 2, requestSeq: 2 }), 'idsAllocated');
    expect([a.firstId, a.lastId, b.firstId, b.lastId]).toEqual([102, 111, 112, 116]);
    expect(expectKind(sm.apply({ kind: 'allocIds', count: 0, requesterId: 1, requesterTerm: 1, requestSeq: 1 }), 'refused').error.kind).toBe('InvalidArgument');
  });

  it('only ever raises the TSO bound', () => {
    const sm = bootstrapped();
    sm.apply({ kind: 'tsoSaveWindow', maxPhysicalMs: 500, requesterId: 101, requesterTerm: 2 });
    expect(expectKind(sm.apply({ kind: 'tsoSaveWindow', maxPhysicalMs: 300, requesterId: 101, requesterTerm: 2 }), 'tsoWindowSaved').maxPersistedPhysicalMs).toBe(500);
    expect(sm.maxPersistedPhysicalMs).toBe(500);
  });
});

describe('region heartbeats', () => {
  function splitCluster(): PdStateMachine {
    const sm = bootstrapped();
    const left = region(2, '', 'm', [peer(3, 1)], { confVer: 1, version: 2 });
    const right = region(20, 'm', '', [peer(21, 1)], { confVer: 1, version: 2 });
    expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(right), nowMs: 2 }), 'regionUpdated');
    expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(left), nowMs: 2 }), 'regionUpdated');
    return sm;
  }

  it('a split child replaces the overlapping parent; routing follows', () => {
    const sm = bootstrapped();
    const right = region(20, 'm', '', [peer(21, 1)], { confVer: 1, version: 2 });
    const r = expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(right), nowMs: 2 }), 'regionUpdated');
    expect(r.removedRegionIds).toEqual([2]);
    expect(sm.getRegion(k('a'))).toBeUndefined();
    expect(sm.getRegion(k('x'))?.region.id).toBe(20);
  });

  it('refuses a heartbeat older than the same region in either epoch dimension', () => {
    const sm = splitCluster();
    const oldVersion = region(2, '', '', [peer(3, 1)], { confVer: 5, version: 1 });
    expect(expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(oldVersion), nowMs: 3 }), 'refused').error.kind).toBe('StaleRegion');
    expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(region(2, '', 'm', [peer(3, 1), peer(4, 2)], { confVer: 2, version: 2 })), nowMs: 3 }), 'regionUpdated');
    const oldConf = region(2, '', 'm', [peer(3, 1)], { confVer: 1, version: 3 });
    expect(expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(oldConf), nowMs: 4 }), 'refused').error.kind).toBe('StaleRegion');
  });

  it('refuses a heartbeat whose range overlaps a region with a newer version', () => {
    const sm = splitCluster();
    const stale = region(99, 'a', 'z', [peer(98, 1)], { confVer: 1, version: 1 });
    const refused = expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(stale), nowMs: 3 }), 'refused');
    expect(refused.error.kind).toBe('StaleRegion');
    expect(sm.scanRegions(k(''), k(''), 10).map((r) => r.region.id)).toEqual([2, 20]);
  });

  it('refuses an older term at the same epoch (leader info never goes backwards)', () => {
    const sm = bootstrapped();
    const r = region(2, '', '', [peer(3, 1), peer(4, 2)], { confVer: 2, version: 1 });
    expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(r, peer(4, 2), { term: 5 }), nowMs: 2 }), 'regionUpdated');
    const old = expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(r, peer(3, 1), { term: 4 }), nowMs: 3 }), 'refused');
    expect(old.error).toEqual({ kind: 'StaleTerm', regionId: 2, term: 4, knownTerm: 5 });
    expect(sm.getRegionById(2)?.leader).toEqual(peer(4, 2));
  });

  it('refuses malformed heartbeats', () => {
    const sm = bootstrapped();
    const notPeer = heartbeat(region(2, '', '', [peer(3, 1)], { confVer: 2, version: 1 }), peer(9, 1));
    expect(expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: notPeer, nowMs: 1 }), 'refused').error.kind).toBe('InvalidArgument');
    const empty = heartbeat(region(2, 'b', 'a', [peer(3, 1)], { confVer: 2, version: 2 }));
    expect(expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: empty, nowMs: 1 }), 'refused').error.kind).toBe('InvalidArgument');
  });

  it('tracks PD own group apart from data regions', () => {
    const sm = bootstrapped();
    const g = region(100, '', '', [peer(101, 1), peer(102, 2)], { confVer: 2, version: 1 });
    expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(g), nowMs: 5 }), 'regionUpdated');
    expect(sm.pdGroup?.region.peers).toHaveLength(2);
    expect(sm.getRegion(k('a'))?.region.id).toBe(2);
    expect(sm.regionCount).toBe(1);
    const stale = region(100, '', '', [peer(101, 1)], { confVer: 1, version: 1 });
    expect(expectKind(sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(stale), nowMs: 6 }), 'refused').error.kind).toBe('StaleRegion');
  });

  it('scans with a limit and from the middle of a region', () => {
    const sm = splitCluster();
    expect(sm.scanRegions(k('c'), k(''), 10).map((r) => r.region.id)).toEqual([2, 20]);
    expect(sm.scanRegions(k('c'), k('d'), 10).map((r) => r.region.id)).toEqual([2]);
    expect(sm.scanRegions(k('m'), k(''), 10).map((r) => r.region.id)).toEqual([20]);
    expect(sm.scanRegions(k(''), k(''), 1).map((r) => r.region.id)).toEqual([2]);
    expect(sm.scanRegions(k('z'), k('a'), 10)).toEqual([]);
  });
});

describe('snapshots', () => {
  it('restores to an equal state with equal bytes', () => {
    const sm = bootstrapped();
    joinStores(sm, ['d2', 'd3']);
    sm.apply({ kind: 'storeHeartbeat', stats: stats(1), nowMs: 50 });
    sm.apply({ kind: 'regionHeartbeat', heartbeat: heartbeat(region(20, 'm', '', [peer(21, 1)], { confVer: 1, version: 2 })), nowMs: 60 });
    sm.apply({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, maxReplicas: 5 } });
    sm.apply({ kind: 'tsoSaveWindow', maxPhysicalMs: 12345, requesterId: 101, requesterTerm: 2 });
    const bytes = sm.snapshot();
    const restored = PdStateMachine.restore(bytes);
    expect(restored.snapshot()).toEqual(bytes);
    expect(restored.config.maxReplicas).toBe(5);
    expect(restored.getRegion(k('q'))?.region.id).toBe(20);
    expect(restored.maxPersistedPhysicalMs).toBe(12345);
  });

  it('keeps the snapshot format (golden bytes of a freshly bootstrapped cluster)', () => {
    const hex = Array.from(bootstrapped(1000).snapshot(), (x) => x.toString(16).padStart(2, '0')).join('');
    expect(hex).toBe(
      '01010765000303e0a712010280808020008080800880e2091004c0cf240664657669636501010773746f72652d3101066465766963650264310000e8070164000001010165010001650100000000000000e8070102000001010103010001030100000000000000e807',
    );
  });

  it('refuses corrupt snapshots with PdDecodeError', () => {
    const bytes = bootstrapped().snapshot();
    expect(() => PdStateMachine.restore(bytes.subarray(0, bytes.length - 1))).toThrow(/Truncated/);
    expect(() => PdStateMachine.restore(Uint8Array.of(9, ...bytes.subarray(1)))).toThrow(/UnknownTag/);
    expect(() => PdStateMachine.restore(Uint8Array.of(...bytes, 0))).toThrow(/TrailingBytes/);
  });
});
