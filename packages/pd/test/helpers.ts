/** Builders for PD tests: keys, peers, regions, heartbeats and a bootstrapped state machine. */
import type { BootstrapCommand, PdApplyResult, Peer, PeerRole, Region, RegionEpoch, RegionHeartbeat, StoreStats } from '../src/index.ts';
import { PdStateMachine } from '../src/index.ts';

const enc = new TextEncoder();

/** A key from a string ('' is the empty key). */
export function k(s: string): Uint8Array {
  return enc.encode(s);
}

export function peer(id: number, storeId: number, role: PeerRole = 'voter'): Peer {
  return { id, storeId, role };
}

export function region(id: number, start: string, end: string, peers: Peer[], epoch: RegionEpoch = { confVer: 1, version: 1 }): Region {
  return { id, startKey: k(start), endKey: k(end), epoch: { ...epoch }, peers };
}

/** Store 1; region 2 [,) with peer 3 on store 1; PD group region 100 with peer 101 on store 1. */
export function bootstrapCommand(nowMs = 1000): BootstrapCommand {
  return {
    kind: 'bootstrap',
    clusterId: 7,
    store: { id: 1, address: 'store-1', labels: { device: 'd1' }, state: 'up' },
    region: region(2, '', '', [peer(3, 1)]),
    pdGroup: { regionId: 100, epoch: { confVer: 1, version: 1 }, peers: [peer(101, 1)] },
    nowMs,
  };
}

export function heartbeat(r: Region, leader: Peer = r.peers[0], extra: Partial<RegionHeartbeat> = {}): RegionHeartbeat {
  return {
    region: r,
    leader,
    downPeers: [],
    pendingPeers: [],
    approximateSizeBytes: 1024,
    approximateKeys: 10,
    writtenBytesPerSec: 0,
    term: 1,
    ...extra,
  };
}

export function stats(storeId: number, extra: Partial<StoreStats> = {}): StoreStats {
  return {
    storeId,
    capacityBytes: 1 << 30,
    usedBytes: 1 << 20,
    availableBytes: (1 << 30) - (1 << 20),
    regionCount: 0,
    leaderCount: 0,
    draining: false,
    ...extra,
  };
}

/** A bootstrapped state machine. */
export function bootstrapped(nowMs = 1000): PdStateMachine {
  const sm = PdStateMachine.create();
  expectKind(sm.apply(bootstrapCommand(nowMs)), 'bootstrapped');
  return sm;
}

/** Narrows an apply result, throwing with the actual result otherwise. */
export function expectKind<K extends PdApplyResult['kind']>(r: PdApplyResult, kind: K): Extract<PdApplyResult, { kind: K }> {
  if (r.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(r)}`);
  return r as Extract<PdApplyResult, { kind: K }>;
}

/** Adds stores 2..n+1 style: joins `count` new stores with device labels; returns their ids. */
export function joinStores(sm: PdStateMachine, devices: string[], nowMs = 1000): number[] {
  return devices.map((device, i) => expectKind(sm.apply({ kind: 'putStore', storeId: 0, address: `addr-${device}-${i}-${sm.idHighWater}`, labels: { device }, nowMs }), 'storePut').storeId);
}
