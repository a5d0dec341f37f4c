/**
 * Store-layer mutation tests for the two bugs whose timing windows the cluster simulator
 * rarely hits (see packages/sim/test/cluster-mutations.test.ts for the others): each scenario
 * steers messages between three stores so the window is certain, and must read the newest
 * acknowledged value with the product as it is, and a stale one under the mutation.
 *
 * - `restartedReadContext`: a follower read pending at the leader from before a restart is
 *   answered to a new read of the restarted store that reused its context.
 * - `readIndexWithoutTermCommit`: a new leader answers ReadIndex with a commit index from
 *   before its term, behind a write the old leader acknowledged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import type { Store, StoreTestMutations } from '@peerkv/store';
import type { RegionMessage } from '@peerkv/transport';
import { LocalCluster, PeerKV, codec } from '../src/index.ts';

const t = codec.text;
const s = codec.fromText;
const REGION = 2;

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cluster(mutations: StoreTestMutations, checkQuorum = true): Promise<LocalCluster> {
  const disks = new Map<number, MemoryDisk>();
  const c = new LocalCluster({
    openEngine: async (id, cfs) => {
      if (!disks.has(id)) disks.set(id, new MemoryDisk());
      return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(id) });
    },
    // Hibernation off: the scenarios count on heartbeats.
    store: { tickIntervalMs: 10, requestTimeoutMs: 3000, hibernateAfterTicks: 1_000_000, unsafeTestMutations: mutations, raft: { checkQuorum } },
  });
  for (const id of [1, 2, 3]) await c.startStore(id);
  await c.bootstrap([1, 2, 3]);
  await until(() => roleOf(c, 'leader').length === 1);
  return c;
}

function roleOf(c: LocalCluster, role: string): Store[] {
  return [...c.stores.values()].filter((x) => x.status().regions.find((r) => r.regionId === REGION)?.role === role);
}

/** Drops the messages `drop` picks on their way into `store` (until `heal`). */
function filter(store: Store, drop: (from: number, m: RegionMessage) => boolean): { heal(): void } {
  const receive = store.receive.bind(store);
  let on = true;
  store.receive = (from, msgs) => receive(from, on ? msgs.filter((m) => m.regionId !== REGION || !drop(from, m)) : msgs);
  return { heal: () => (on = false) };
}

function regionOf(store: Store) {
  return store.regionForKey(t('k'))!;
}

/** A follower read pending at the leader across the follower's restart; returns what the restarted follower reads. */
async function restartedReadScenario(mutations: StoreTestMutations): Promise<string | undefined> {
  // CheckQuorum off: the leader hears no heartbeat acks while the read is held, and must not
  // step down (that would drop the pending read and close the window).
  const c = await cluster(mutations, false);
  try {
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await kv.put(t('k'), t('v1'));
    const leader = roleOf(c, 'leader')[0];
    const f = roleOf(c, 'follower')[0];
    await until(() => f.status().regions.find((r) => r.regionId === REGION)!.applied >= leader.status().regions.find((r) => r.regionId === REGION)!.applied);
    // R1: the follower's read reaches the leader, whose confirmation round never completes.
    const acks = filter(leader, (_from, m) => m.message.type === 'MsgHeartbeatResp' && (m.message.context?.length ?? 0) > 0);
    const r1 = await f.get(REGION, regionOf(f).epoch, t('k'), 'follower', { timeoutMs: 200 });
    expect(r1.ok).toBe(false);
    // The follower restarts; meanwhile v2 is acknowledged without it.
    const fid = f.storeId;
    await c.stopStore(fid);
    await kv.put(t('k'), t('v2'));
    const back = await c.startStore(fid);
    const appends = filter(back, (_from, m) => m.message.type === 'MsgApp' || m.message.type === 'MsgSnap');
    await until(() => back.status().regions.find((r) => r.regionId === REGION)?.lead === leader.status().regions.find((r) => r.regionId === REGION)!.peerId);
    // R2 from the restarted follower; then the leader's confirmations flow again.
    const r2 = back.get(REGION, regionOf(back).epoch, t('k'), 'follower', { timeoutMs: 3000 });
    await sleep(30);
    acks.heal();
    await sleep(300);
    appends.heal();
    const r = await r2;
    return r.ok && r.value ? s(r.value) : undefined;
  } finally {
    await c.close();
  }
}

/** A new leader that never heard the commit of the old leader's last write serves a linearizable read. */
async function newLeaderReadScenario(mutations: StoreTestMutations): Promise<string | undefined> {
  const c = await cluster(mutations);
  try {
    const kv = new PeerKV({ dataModel: 'raw', pd: c, stores: c });
    await kv.put(t('k'), t('v1'));
    const old = roleOf(c, 'leader')[0];
    const [f, o] = roleOf(c, 'follower');
    // f gets v2's entry but never hears that it committed.
    const commits = filter(f, (_from, m) => m.message.type === 'MsgHeartbeat' || (m.message.type === 'MsgApp' && m.message.entries.length === 0));
    await kv.put(t('k'), t('v2'));
    const committed = old.status().regions.find((r) => r.regionId === REGION)!.commit;
    await until(() => f.status().regions.find((r) => r.regionId === REGION)!.commit < committed && o.status().regions.find((r) => r.regionId === REGION)!.commit >= committed);
    await c.stopStore(old.storeId);
    commits.heal();
    // f leads; its own term's first entry cannot commit for a while (o's acks of it are lost).
    const appendAcks = filter(f, (_from, m) => m.message.type === 'MsgAppResp');
    f.campaign(REGION);
    await until(() => f.status().regions.find((r) => r.regionId === REGION)?.role === 'leader');
    const read = f.get(REGION, regionOf(f).epoch, t('k'), 'linearizable', { timeoutMs: 3000 });
    await sleep(300);
    appendAcks.heal();
    const r = await read;
    return r.ok && r.value ? s(r.value) : undefined;
  } finally {
    await c.close();
  }
}

describe('store mutations the simulator rarely reaches are caught by targeted scenarios', () => {
  afterEach(() => undefined);

  it('a restarted store reads the newest value (its read contexts are new)', async () => {
    expect(await restartedReadScenario({})).toBe('v2');
  });

  it('mutation restartedReadContext is caught: the restarted store reads a stale value', async () => {
    expect(await restartedReadScenario({ restartedReadContext: true })).toBe('v1');
  });

  it('a new leader serves a linearizable read only after an entry of its term commits', async () => {
    expect(await newLeaderReadScenario({})).toBe('v2');
  });

  it('mutation readIndexWithoutTermCommit is caught: the new leader reads a stale value', async () => {
    expect(await newLeaderReadScenario({ readIndexWithoutTermCommit: true })).toBe('v1');
  });
});
