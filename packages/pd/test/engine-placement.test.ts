/**
 * Engine-aware placement (`replicaEnginesMin`, the `engine` store label): once stores on two
 * engines can hold replicas, PD moves a replica so no region stays on one engine; the rule
 * comes before device spread, never fights balance-region (the scheduler converges and stays
 * put), relaxes when the other engine's stores are gone, and is off at 1. The config field
 * travels in commands (an optional tail) and snapshots (a section) without changing the bytes
 * of a config that does not use it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE_CONFIG, ENGINE_LABEL, PdDecodeError, PdStateMachine, SNAPSHOT_SECTIONS, decodePdCommand, encodePdCommand, validateScheduleConfig } from '../src/index.ts';
import { bootstrapped, peer, region } from './helpers.ts';
import type { SimRegion } from './sim-cluster.ts';
import { SimCluster } from './sim-cluster.ts';

const MIN = 60_000;

/** A cluster of Chromium stores: store 1 (d1) and one per `devices`, `regionCount` regions starting on store 1. */
function chromiumCluster(devices: string[], regionCount: number, config: Partial<typeof DEFAULT_SCHEDULE_CONFIG> = { replicaEnginesMin: 2 }): SimCluster {
  const c = new SimCluster([], config);
  c.relabel(1, { device: 'd1', [ENGINE_LABEL]: 'chromium' });
  for (const d of devices) c.join(d, false, { [ENGINE_LABEL]: 'chromium' });
  const regions: SimRegion[] = [];
  for (let i = 0; i < regionCount; i++) {
    const p = peer(5000 + i, 1);
    const key = (n: number): string => `k${String(n).padStart(3, '0')}`;
    const start = i === 0 ? '' : key(i);
    const end = i === regionCount - 1 ? '' : key(i + 1);
    regions.push({ region: region(i === 0 ? 2 : 3000 + i, start, end, [p], { confVer: 2, version: 2 }), leader: p, sizeBytes: 1000, keys: 10 });
  }
  c.setRegions(regions);
  return c;
}

function enginesOf(c: SimCluster, regionId: number): string[] {
  return [...new Set(c.storesOf(regionId).map((s) => c.sm.getStore(s)!.meta.labels[ENGINE_LABEL]))].sort();
}

/** Runs rounds until a round starts with no operator running and adds none (at most `max`); returns the rounds run. */
function settle(c: SimCluster, max: number): number {
  for (let i = 1; i <= max; i++) {
    c.heartbeatStores();
    c.heartbeatRegions(true);
    const idle = c.scheduler.operators.running().length === 0;
    const added = c.schedule().added.length;
    c.nowMs += MIN;
    if (idle && added === 0) return i;
  }
  return max;
}

describe('engine-aware placement', () => {
  it('moves a replica so a region stops being Chromium-only once a Firefox store joins', () => {
    const c = chromiumCluster(['d2', 'd3'], 3);
    c.run(20, MIN);
    for (const id of [2, 3001, 3002, 100]) {
      expect(c.storesOf(id)).toHaveLength(3);
      expect(enginesOf(c, id)).toEqual(['chromium']);
    }
    const ff = c.join('d4', false, { [ENGINE_LABEL]: 'firefox' });
    const logAt = c.log.length;
    c.run(30, MIN);
    for (const id of [2, 3001, 3002, 100]) {
      expect(c.storesOf(id)).toHaveLength(3);
      expect(c.storesOf(id)).toContain(ff);
      expect(enginesOf(c, id)).toEqual(['chromium', 'firefox']);
    }
    expect(c.log.slice(logAt).filter((l) => l.startsWith('placement:') && l.endsWith('for 2 engines')).length).toBeGreaterThanOrEqual(3);
  });

  it('leaves the region on Chromium with the rule off (replicaEnginesMin 1)', () => {
    const c = chromiumCluster(['d2', 'd3'], 1, { replicaEnginesMin: 1 });
    c.run(20, MIN);
    c.join('d4', false, { [ENGINE_LABEL]: 'firefox' });
    c.run(30, MIN);
    expect(enginesOf(c, 2)).toEqual(['chromium']);
  });

  it('puts engines before devices: a Firefox store on a device that already holds a replica takes that device\'s replica', () => {
    const c = chromiumCluster(['d2', 'd3'], 1);
    c.run(20, MIN);
    const chromiumOnD2 = c.storeIds[1];
    const ff = c.join('d2', false, { [ENGINE_LABEL]: 'firefox' });
    c.run(30, MIN);
    expect(enginesOf(c, 2)).toEqual(['chromium', 'firefox']);
    // Two engines and still three devices: the Chromium store on d2 gave its replica up.
    expect(c.storesOf(2)).toEqual([1, c.storeIds[2], ff].sort((a, b) => a - b));
    expect(c.storesOf(2)).not.toContain(chromiumOnD2);
  });

  it('adds the first extra replica on the other engine (a lone store grows onto Firefox first)', () => {
    const c = chromiumCluster([], 1);
    c.run(3, MIN);
    const [, ff] = [c.join('d2', false, { [ENGINE_LABEL]: 'chromium' }), c.join('d3', false, { [ENGINE_LABEL]: 'firefox' })];
    // The first replica added goes to Firefox although the Chromium store has the lower id.
    c.run(1, MIN);
    const firstAdd = c.log.find((l) => l.startsWith('addReplica:') && !l.includes('witness'));
    expect(firstAdd).toContain(`store ${ff}`);
  });

  it('relaxes when the Firefox store goes down: its replica is replaced on Chromium', () => {
    const c = chromiumCluster(['d2', 'd3', 'd5'], 1);
    const ff = c.join('d4', false, { [ENGINE_LABEL]: 'firefox' });
    c.run(30, MIN);
    expect(c.storesOf(2)).toContain(ff);
    c.down.add(ff);
    c.run(30, MIN);
    expect(c.storesOf(2)).toHaveLength(3);
    expect(c.storesOf(2)).not.toContain(ff);
    expect(enginesOf(c, 2)).toEqual(['chromium']);
  });

  it('does not fight balance-region: one Firefox store holds a replica of every region, the rest balance, and 200 more rounds move nothing', () => {
    const c = chromiumCluster(['d2', 'd3', 'd4', 'd5', 'd6'], 12);
    c.run(40, MIN);
    const ff = c.join('d7', false, { [ENGINE_LABEL]: 'firefox' });
    const rounds = settle(c, 300);
    expect(rounds).toBeLessThan(300);
    for (const id of c.regions.keys()) {
      expect(c.storesOf(id)).toContain(ff);
      expect(c.storesOf(id)).toHaveLength(3);
    }
    // Balance-region still works among the Chromium stores (12 regions x 2 replicas over 6 stores).
    const counts = c.storeIds.filter((s) => s !== ff).map((s) => [...c.regions.values()].filter((r) => r.region.peers.some((p) => p.storeId === s)).length);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(DEFAULT_SCHEDULE_CONFIG.regionScheduleTolerance + 1);
    const logAt = c.log.length;
    const placement = new Map([...c.regions].map(([id]) => [id, c.storesOf(id)]));
    c.run(200, MIN);
    expect(c.log.slice(logAt)).toEqual([]);
    for (const [id, stores] of placement) expect(c.storesOf(id)).toEqual(stores);
  });

  it('converges on random clusters of mixed engines and devices, and stays put (property)', () => {
    const arb = fc.record({
      stores: fc.array(fc.record({ device: fc.constantFrom('d1', 'd2', 'd3', 'd4'), engine: fc.constantFrom('chromium', 'firefox', 'webkit', 'none') }), { minLength: 2, maxLength: 6 }),
      regionCount: fc.integer({ min: 1, max: 8 }),
      enginesMin: fc.integer({ min: 1, max: 3 }),
      joinLate: fc.nat({ max: 2 }),
    });
    fc.assert(
      fc.property(arb, ({ stores, regionCount, enginesMin, joinLate }) => {
        const c = chromiumCluster([], regionCount, { replicaEnginesMin: enginesMin });
        const join = (s: { device: string; engine: string }): number => c.join(s.device, false, s.engine === 'none' ? {} : { [ENGINE_LABEL]: s.engine });
        const late = stores.slice(stores.length - Math.min(joinLate, stores.length - 1));
        for (const s of stores.slice(0, stores.length - late.length)) join(s);
        c.run(15, MIN);
        for (const s of late) join(s);
        expect(settle(c, 400)).toBeLessThan(400);
        const engines = new Set(c.storeIds.map((s) => c.sm.getStore(s)!.meta.labels[ENGINE_LABEL]).filter((e) => e !== undefined));
        const wanted = Math.min(enginesMin, engines.size) >= 2 ? Math.min(enginesMin, engines.size) : 0;
        const want = Math.min(3, c.storeIds.length);
        for (const id of [...c.regions.keys(), 100]) {
          expect(c.storesOf(id)).toHaveLength(want);
          const spanned = new Set(c.storesOf(id).map((s) => c.sm.getStore(s)!.meta.labels[ENGINE_LABEL]).filter((e) => e !== undefined)).size;
          expect(spanned).toBeGreaterThanOrEqual(Math.min(wanted, want));
        }
        const logAt = c.log.length;
        c.run(30, MIN);
        expect(c.log.slice(logAt)).toEqual([]);
      }),
      { numRuns: 80 },
    );
  });
});

describe('replicaEnginesMin in the replicated config', () => {
  it('is validated: 1 to 4', () => {
    expect(validateScheduleConfig({ ...DEFAULT_SCHEDULE_CONFIG, replicaEnginesMin: 0 })).toMatch(/replicaEnginesMin/);
    expect(validateScheduleConfig({ ...DEFAULT_SCHEDULE_CONFIG, replicaEnginesMin: 5 })).toMatch(/replicaEnginesMin/);
    expect(validateScheduleConfig({ ...DEFAULT_SCHEDULE_CONFIG, replicaEnginesMin: 2 })).toBeNull();
  });

  it('travels as an optional command tail: default bytes unchanged, 2 round-trips, 9 is refused', () => {
    const plain = encodePdCommand({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG } });
    const two = encodePdCommand({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, replicaEnginesMin: 2 } });
    expect(two.length).toBe(plain.length + 1);
    expect(two.subarray(0, plain.length)).toEqual(plain);
    expect(decodePdCommand(plain)).toEqual({ kind: 'setScheduleConfig', config: DEFAULT_SCHEDULE_CONFIG });
    expect(decodePdCommand(two)).toEqual({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, replicaEnginesMin: 2 } });
    const bad = new Uint8Array([...plain, 9]);
    expect(() => decodePdCommand(bad)).toThrow(PdDecodeError);
  });

  it('travels as a snapshot section: restored equal, absent when off', () => {
    const sm = bootstrapped();
    const off = sm.snapshot();
    sm.apply({ kind: 'setScheduleConfig', config: { ...DEFAULT_SCHEDULE_CONFIG, replicaEnginesMin: 2 } });
    const on = sm.snapshot();
    expect(on.length).toBe(off.length + 2);
    expect(Array.from(on.subarray(off.length))).toEqual([SNAPSHOT_SECTIONS.replicaEnginesMin, 2]);
    const restored = PdStateMachine.restore(on);
    expect(restored.config.replicaEnginesMin).toBe(2);
    expect(restored.snapshot()).toEqual(on);
    expect(() => PdStateMachine.restore(new Uint8Array([...off, SNAPSHOT_SECTIONS.replicaEnginesMin, 7]))).toThrow(PdDecodeError);
  });
});
