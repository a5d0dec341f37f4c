/**
 * PD micro-benchmarks (not tests): region heartbeat apply rate, snapshot size and speed,
 * scheduling round cost, TSO rate. Prints numbers and ratios; asserts nothing.
 * Run: npx tsx packages/pd/bench/run.ts
 */
import type { Peer, Region } from '../src/index.ts';
import { PdLeader, PdStateMachine, encodePdCommand } from '../src/index.ts';

const REGIONS = 10_000;
const STORES = 10;

function key(i: number): Uint8Array {
  return new TextEncoder().encode(`k${String(i).padStart(8, '0')}`);
}

function buildCluster(): { sm: PdStateMachine; regions: Region[] } {
  const sm = PdStateMachine.create();
  sm.apply({
    kind: 'bootstrap',
    clusterId: 1,
    store: { id: 1, address: 's1', labels: { device: 'd1' }, state: 'up' },
    region: { id: 2, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 }, peers: [{ id: 3, storeId: 1, role: 'voter' }] },
    pdGroup: { regionId: 4, epoch: { confVer: 1, version: 1 }, peers: [{ id: 5, storeId: 1, role: 'voter' }] },
    nowMs: 0,
  });
  const storeIds = [1];
  for (let s = 1; s < STORES; s++) {
    const r = sm.apply({ kind: 'putStore', storeId: 0, address: `s${s + 1}`, labels: { device: `d${s + 1}` }, nowMs: 0 });
    if (r.kind === 'storePut') storeIds.push(r.storeId);
  }
  const regions: Region[] = [];
  for (let i = 0; i < REGIONS; i++) {
    const peers: Peer[] = [0, 1, 2].map((j) => ({ id: 1_000_000 + i * 3 + j, storeId: storeIds[(i + j) % STORES], role: 'voter' }));
    regions.push({ id: i === 0 ? 2 : 100_000 + i, startKey: i === 0 ? new Uint8Array(0) : key(i), endKey: i === REGIONS - 1 ? new Uint8Array(0) : key(i + 1), epoch: { confVer: 2, version: 2 }, peers });
  }
  return { sm, regions };
}

function heartbeatAll(sm: PdStateMachine, regions: Region[], nowMs: number): void {
  for (const region of regions) {
    sm.apply({ kind: 'regionHeartbeat', heartbeat: { region, leader: region.peers[0], downPeers: [], pendingPeers: [], approximateSizeBytes: 1 << 20, approximateKeys: 1000, writtenBytesPerSec: 0, term: 1 }, nowMs });
  }
}

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

const { sm, regions } = buildCluster();
const [, firstMs] = time(() => heartbeatAll(sm, regions, 1));
const [, againMs] = time(() => heartbeatAll(sm, regions, 2));
console.log(`region heartbeats: ${REGIONS} new in ${firstMs.toFixed(0)} ms (${((REGIONS / firstMs) * 1000).toFixed(0)}/s); ${REGIONS} unchanged ranges in ${againMs.toFixed(0)} ms (${((REGIONS / againMs) * 1000).toFixed(0)}/s)`);
const hbBytes = encodePdCommand({ kind: 'regionHeartbeat', heartbeat: { region: regions[5], leader: regions[5].peers[0], downPeers: [], pendingPeers: [], approximateSizeBytes: 1 << 20, approximateKeys: 1000, writtenBytesPerSec: 0, term: 1 }, nowMs: Date.now() }).length;
console.log(`region heartbeat command: ${hbBytes} bytes`);
const [snap, snapMs] = time(() => sm.snapshot());
const [, restoreMs] = time(() => PdStateMachine.restore(snap));
console.log(`snapshot of ${REGIONS} regions: ${(snap.length / 1024).toFixed(0)} KiB (${(snap.length / REGIONS).toFixed(1)} bytes/region), encode ${snapMs.toFixed(0)} ms, restore ${restoreMs.toFixed(0)} ms`);
const leader = new PdLeader(sm, 5, { scheduleIntervalMs: 0 });
leader.becomeLeader(2, 10);
for (const cmd of leader.tick(10).commands) leader.onApplied(sm.apply(cmd));
const [round, roundMs] = time(() => leader.tick(20));
console.log(`scheduling round over ${REGIONS} regions × ${STORES} stores: ${roundMs.toFixed(1)} ms, ${round.added.length} operators`);
const [, tsoMs] = time(() => {
  for (let i = 0; i < 100_000; i++) leader.getTimestamps(1, 10);
});
console.log(`TSO: ${((100_000 / tsoMs) * 1000).toFixed(0)} single-timestamp requests/s from memory`);
console.log(`ratio unchanged/new heartbeat apply time: ${(againMs / firstMs).toFixed(2)}`);
