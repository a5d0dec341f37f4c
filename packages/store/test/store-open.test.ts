/**
 * Opening a store that exists (issue 16, "open ≤ 200 ms for an existing store"): a replica that
 * is its region's only voter leads as soon as the store is open, with no election timeout and
 * no other store asked (`campaignSoleVoters`); a replica with other voters waits for them as
 * before; every region's records are read side by side, at most `REGION_LOADS_INFLIGHT_MAX`
 * regions at a time, and come back whole; `openTrace` says where the open went.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import { ForwardingEngine, MemoryDisk, MemoryEngine, type KvEngine } from '@peerkv/storage';
import { LocalRouter, REGION_LOADS_INFLIGHT_MAX, STORE_CFS, Store } from '../src/index.ts';
import { StubPd, threeVoters, until } from './helpers.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Ticks far apart: an election timeout (10-20 ticks) would take minutes, past any wait here. */
const SLOW_TICKS = { tickIntervalMs: 60_000, hibernateAfterTicks: 1_000_000, requestTimeoutMs: 3000 };

const router = new LocalRouter();
const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function openStore(engine: KvEngine): Promise<Store> {
  // Raw: the test writes and reads with the store's raw requests.
  const s = await Store.open({ storeId: 1, clusterId: 'open', dataModel: 'raw', engine, transport: router.transportFor(1), pdClient: new StubPd(), ...SLOW_TICKS });
  open.push(s);
  return s;
}

/** Region `id` over [`start`, `end`) with store 1's peer `id * 10 + 1` as its only voter. */
function lone(id: number, start: string, end: string): Region {
  return { id, startKey: enc.encode(start), endKey: enc.encode(end), epoch: { confVer: 1, version: 1 }, peers: [{ id: id * 10 + 1, storeId: 1, role: 'voter' }] };
}

const roleOf = (s: Store, regionId: number): string | undefined => s.status().regions.find((r) => r.regionId === regionId)?.role;

/** Counts the engine's reads in flight, and the most at once. */
class InflightEngine extends ForwardingEngine {
  inflight = 0;
  inflightMax = 0;
  override async get(cf: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    this.inflight++;
    this.inflightMax = Math.max(this.inflightMax, this.inflight);
    // A read that takes a turn of the event loop, as LevelDB's and IndexedDB's do.
    await new Promise((r) => setTimeout(r, 0));
    try {
      return await super.get(cf, key);
    } finally {
      this.inflight--;
    }
  }
}

describe('opening an existing store', () => {
  it("leads the regions it is the only voter of at once, and leaves the others to their voters' election", async () => {
    const disk = new MemoryDisk();
    const first = await openStore(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk }));
    await first.createRegion(lone(2, '', 'm'));
    await first.createRegion({ ...threeVoters(3), startKey: enc.encode('m') });
    // Made from scratch, a region elects like any other: campaign, then write.
    first.campaign(2);
    await until('region 2 led', () => roleOf(first, 2) === 'leader');
    const region = first.status().regions.find((r) => r.regionId === 2)!;
    const w = await first.write(2, region.epoch, 'c', 1, [{ type: 'put', cf: 'default', key: enc.encode('a'), value: enc.encode('1') }]);
    expect(w.ok).toBe(true);
    await first.close();
    open.splice(0);

    const t0 = performance.now();
    const again = await openStore(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk }));
    // No tick has run (the first is a minute away): the election is the open's own.
    expect(roleOf(again, 2)).toBe('leader');
    const read = await again.get(2, region.epoch, enc.encode('a'));
    expect(read.ok && dec.decode(read.value)).toBe('1');
    expect(performance.now() - t0).toBeLessThan(SLOW_TICKS.tickIntervalMs);
    // Region 3's other voters are not up: its replica neither leads nor waits for them to open.
    expect(roleOf(again, 3)).not.toBe('leader');
    expect(again.openTrace()).toMatchObject({ regions: 2, elected: 1 });
  });

  it(`reads the regions side by side, at most ${REGION_LOADS_INFLIGHT_MAX} at a time, each whole`, async () => {
    const disk = new MemoryDisk();
    const first = await openStore(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk }));
    const n = 2 * REGION_LOADS_INFLIGHT_MAX + 3;
    const keyOf = (i: number): string => `k${String(i).padStart(4, '0')}`;
    for (let i = 0; i < n; i++) await first.createRegion(lone(100 + i, keyOf(i), keyOf(i + 1)));
    for (let i = 0; i < n; i++) first.campaign(100 + i);
    await until('every region led', () => Array.from({ length: n }, (_, i) => roleOf(first, 100 + i)).every((r) => r === 'leader'));
    for (let i = 0; i < n; i++) {
      const epoch = first.status().regions.find((r) => r.regionId === 100 + i)!.epoch;
      const w = await first.write(100 + i, epoch, `c${i}`, 1, [{ type: 'put', cf: 'default', key: enc.encode(keyOf(i)), value: enc.encode(`v${i}`) }]);
      expect(w.ok).toBe(true);
    }
    await first.close();
    open.splice(0);

    // One region's own reads overlap too (its log's records, its dedup records, its resolved
    // ts): measured on a store of one region, the same way.
    const oneDisk = new MemoryDisk();
    const single = await openStore(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk: oneDisk }));
    await single.createRegion(lone(100, '', ''));
    await single.close();
    open.splice(open.indexOf(single), 1);
    const oneEngine = new InflightEngine(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk: oneDisk }));
    await openStore(oneEngine);
    const perRegion = oneEngine.inflightMax;

    const engine = new InflightEngine(await MemoryEngine.open({ columnFamilies: STORE_CFS, disk }));
    const again = await openStore(engine);
    // Several regions at once (one after another, the reads in flight never pass perRegion),
    // never more than the bound.
    expect(engine.inflightMax).toBeGreaterThan(perRegion);
    expect(engine.inflightMax).toBeLessThanOrEqual(REGION_LOADS_INFLIGHT_MAX * perRegion);
    expect(again.openTrace()).toMatchObject({ regions: n, elected: n });
    for (let i = 0; i < n; i++) {
      const epoch = again.status().regions.find((r) => r.regionId === 100 + i)!.epoch;
      const r = await again.get(100 + i, epoch, enc.encode(keyOf(i)));
      expect(r.ok && dec.decode(r.value)).toBe(`v${i}`);
      // The write's dedup record came back with its region: the same seq is answered, not applied again.
      const dup = await again.write(100 + i, epoch, `c${i}`, 1, [{ type: 'put', cf: 'default', key: enc.encode(keyOf(i)), value: enc.encode('again') }]);
      expect(dup.ok).toBe(true);
      const after = await again.get(100 + i, epoch, enc.encode(keyOf(i)));
      expect(after.ok && dec.decode(after.value)).toBe(`v${i}`);
    }
  });
});
