/**
 * `peerkv status`'s join column: the join progress `ClusterAdmin` builds from the stores'
 * own reports (`adminJoinProgress`), and the status command's table and `--json` with it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE_CONFIG, type Peer } from '@peerkv/pd';
import { MemoryEngine } from '@peerkv/storage';
import { PdCluster, RemotePdService, RemoteStoreResolver } from 'peerkv';
import { LocalRpc, serveStore } from '@peerkv/store';
import type { WebRtcTransport } from '@peerkv/transport';
import { ClusterAdmin } from '../src/admin.ts';
import { PD_REGION_ID, type StoreStatus } from '@peerkv/store';
import { adminJoinProgress } from '../src/admin-join.ts';
import type { ClusterView } from '../src/admin.ts';
import { joining, type CliClient } from '../src/peerkv-cli/commands.ts';
import { runCli } from '../src/peerkv-cli/main.ts';

const DEFAULTS = { maxReplicas: DEFAULT_SCHEDULE_CONFIG.maxReplicas, regionScheduleTolerance: DEFAULT_SCHEDULE_CONFIG.regionScheduleTolerance };
/** The admin client's id on the in-process RPC (not a store). */
const CLIENT_ID = 99;
const ENV = { PEERKV_CLUSTER: 'c', PEERKV_SECRET: 's', PEERKV_SIGNALING: 'ws://127.0.0.1:4444' };
const meta = (id: number) => ({ id, address: `s${id}`, labels: {}, state: 'up' as const });
let nextPeerId = 100;
const voter = (storeId: number): Peer => ({ id: nextPeerId++, storeId, role: 'voter' });

/** A store's own status holding `regionIds`, applying a snapshot of `applying`. */
function status(storeId: number, regionIds: number[], applying: number[] = []): StoreStatus {
  const regions = regionIds.map((regionId) => ({ regionId, peerId: 0, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [], role: 'follower', term: 1, lead: 0, commit: 1, applied: 1, hibernating: false }));
  return { storeId, counters: {} as StoreStatus['counters'], regions, ...(applying.length ? { snapshotProgress: { sending: 0, receiving: 1, bytesSent: 0, bytesReceived: 40 * 1024, applying: applying.map((regionId) => ({ regionId, chunksApplied: 1, chunks: 4 })) } } : {}) };
}

describe('adminJoinProgress', () => {
  it('counts placed replicas, and as caught up those the store reports and is not applying', () => {
    // Six regions on stores 1-3; store 4 joined: PD added it to regions 1 and 2 (promoted), region 3 as a learner.
    const regions = [1, 2, 3, 4, 5, 6].map((regionId) => ({ regionId, pd: false, peers: [voter(1), voter(2), voter(3)] }));
    regions[0].peers.push(voter(4));
    regions[1].peers.push(voter(4));
    regions[2].peers.push({ id: nextPeerId++, storeId: 4, role: 'learner' });
    const pdGroup = { regionId: PD_REGION_ID, pd: true, peers: [voter(1), voter(2), voter(3), voter(4)] };
    const metas = [1, 2, 3, 4].map(meta);
    // Store 4 holds region 1 and is applying region 2's snapshot; region 3's replica is not created yet.
    const statuses = new Map<number, StoreStatus | undefined>([
      [1, status(1, [1, 2, 3, 4, 5, 6])],
      [4, status(4, [PD_REGION_ID, 1, 2], [2])],
      [5, undefined],
    ]);
    expect(adminJoinProgress([pdGroup, ...regions], statuses, metas, DEFAULTS, 4)).toEqual({ placed: 3, caughtUp: 1, target: 3, joined: false });
    expect(adminJoinProgress([pdGroup, ...regions], statuses, metas, DEFAULTS, 1)).toMatchObject({ placed: 6, joined: true });
    // A store that did not answer, or that PD does not know, or no schedule config from PD: no progress to show.
    expect(adminJoinProgress(regions, statuses, metas, DEFAULTS, 5)).toBeUndefined();
    expect(adminJoinProgress(regions, new Map([[9, status(9, [])]]), metas, DEFAULTS, 9)).toBeUndefined();
    expect(adminJoinProgress(regions, statuses, metas, undefined, 4)).toBeUndefined();
  });

  it('n follows the cluster\'s own maxReplicas and tolerance, not PD\'s defaults', () => {
    // Six regions of three replicas on stores 1-3; store 4 just joined and holds none yet.
    const regions = [1, 2, 3, 4, 5, 6].map((regionId) => ({ regionId, pd: false, peers: [voter(1), voter(2), voter(3)] }));
    const statuses = new Map<number, StoreStatus | undefined>([[4, status(4, [])]]);
    const metas = [1, 2, 3, 4].map(meta);
    // PD's defaults (3 replicas, tolerance 2): 18 replicas settle at 5/5/5/3, so 3 here.
    expect(adminJoinProgress(regions, statuses, metas, DEFAULTS, 4)?.target).toBe(3);
    // Tolerance 1 evens them to 5/5/4/4: 4 here.
    expect(adminJoinProgress(regions, statuses, metas, { maxReplicas: 3, regionScheduleTolerance: 1 }, 4)?.target).toBe(4);
    // 2 replicas per region: each region sheds one (12 replicas, 4/4/4/0), then balance stops at 4/3/3/2: 2 here.
    expect(adminJoinProgress(regions, statuses, metas, { maxReplicas: 2, regionScheduleTolerance: 2 }, 4)?.target).toBe(2);
  });

  it('ClusterAdmin.status reads PD\'s schedule config over RPC (pdGetScheduleConfig) and shows it with the join figures', async () => {
    const c = new PdCluster({ openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }), store: { tickIntervalMs: 10, heartbeatIntervalTicks: 5 }, schedule: { regionScheduleTolerance: 5, maxReplicas: 3 } });
    const rpc = new LocalRpc({ router: c.router });
    try {
      await c.bootstrap('a');
      await c.join('b');
      await c.join('c');
      for (const s of c.stores.values()) serveStore(s, rpc.endpoint(s.storeId));
      const client = rpc.endpoint(CLIENT_ID);
      const members = () => [...c.stores.keys()];
      const admin = new ClusterAdmin({ peers: members } as unknown as WebRtcTransport, new RemotePdService(client, { candidates: members, budgetMs: 5000 }), new RemoteStoreResolver(client, { requestTimeoutMs: 2000 }));
      const view = await admin.status();
      // The cluster's settings, not DEFAULT_SCHEDULE_CONFIG's (tolerance 2).
      expect(view.schedule).toEqual({ maxReplicas: 3, regionScheduleTolerance: 5 });
      expect(view.stores.map((x) => x.join !== undefined)).toEqual([true, true, true]);
      // PD's config over RPC is all of it, as the PD leader applied it.
      const served = await new RemotePdService(client, { candidates: members, budgetMs: 5000 }).getScheduleConfig();
      expect(served).toEqual([...c.stores.values()][0].pdState()!.config);
      expect(served.regionScheduleTolerance).toBe(5);
    } finally {
      await c.close();
    }
  });

  it('the cell reads "k of n placed, m caught up, bytes", then "joined (n)"', () => {
    const p = { sending: 0, receiving: 1, bytesSent: 0, bytesReceived: 300 * 1024, applying: [] };
    expect(joining(undefined, p)).toBeUndefined();
    expect(joining({ placed: 2, caughtUp: 1, target: 3, joined: false }, p)).toBe('2 of 3 placed, 1 caught up, 300 KiB received');
    expect(joining({ placed: 0, caughtUp: 0, target: 3, joined: false }, undefined)).toBe('0 of 3 placed, 0 caught up');
    expect(joining({ placed: 3, caughtUp: 3, target: 3, joined: true }, p)).toBe('joined (3)');
  });

  it('`peerkv status` prints the join column, and --json carries it', async () => {
    const view: ClusterView = {
      stores: [
        { storeId: 1, meta: meta(1), connected: true, up: true, replicas: 7, leaders: 4, join: { placed: 6, caughtUp: 6, target: 6, joined: true } },
        { storeId: 4, meta: meta(4), connected: true, up: true, replicas: 3, leaders: 0, join: { placed: 2, caughtUp: 1, target: 3, joined: false }, snapshots: { sending: 0, receiving: 1, bytesSent: 0, bytesReceived: 2048, applying: [] } },
      ],
      regions: [],
      pdLeaderStoreId: 1,
      tso: 42n,
    };
    const client = { admin: { status: async () => view }, close: async () => {} } as unknown as CliClient & { close(): Promise<void> };
    const run = async (argv: string[]) => {
      const out: string[] = [];
      const code = await runCli(argv, ENV, { out: (s) => out.push(s), err: () => {}, stdin: async () => '' }, async () => client);
      return { code, out: out.join('\n') };
    };
    const table = await run(['status']);
    expect(table.code).toBe(0);
    const lines = table.out.split('\n');
    expect(lines[2]).toMatch(/^STORE .* LEADERS +JOIN +SNAPSHOTS$/);
    expect(lines[3]).toMatch(/^1 .* joined \(6\)/);
    expect(lines[4]).toMatch(/^4 .* 2 of 3 placed, 1 caught up, 2 KiB received +recv 1 \(2 KiB received\)$/);
    const json = JSON.parse((await run(['status', '--json'])).out);
    expect(json.stores.map((s: { join: unknown }) => s.join)).toEqual([view.stores[0].join, view.stores[1].join]);
  });
});
