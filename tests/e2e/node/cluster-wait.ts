/**
 * Waiting for a networked cluster in the Node e2e suites: a `PeerKV.connect` client connected
 * to every given store, and PD's group and the first data region with three voters.
 */
import type { NodePeerKV } from '@peerkv/node';
import { BOOTSTRAP_IDS, PD_REGION_ID } from '@peerkv/store';
import { until } from '../until.ts';

/** Waits (40 s each) until `kv` is linked to every store of `storeIds` and both groups have 3 voters. */
export async function untilThreeVoters(kv: NodePeerKV, storeIds: readonly number[], where: string): Promise<void> {
  await until(`the client is connected to the three stores (${where})`, () => storeIds.every((id) => kv.admin.members().includes(id)), 40_000, 100);
  const threeVoters = async (): Promise<boolean> => {
    const { regions } = await kv.admin.status();
    return [PD_REGION_ID, BOOTSTRAP_IDS.dataRegion].every((id) => regions.some((r) => r.regionId === id && r.peers.length === 3 && r.peers.every((p) => p.role === 'voter')));
  };
  await until(`3 voters of PD and data (${where})`, threeVoters, 40_000, 200);
}
