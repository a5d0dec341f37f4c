/**
 * The apply table on its own (apply.ts): a split is refused while the region is in a joint
 * configuration (cluster seed 543: its right half would start with transitional roles and a
 * plain Raft configuration, a change it could never leave), and applies once it is left.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, Region } from '@peerkv/pd';
import type { Entry } from '@peerkv/raft';
import { WriteBatch } from '@peerkv/storage';
import { COMMAND_HANDLERS, DataRegionMachine, DedupTable, applyEntries, encodeCommand, type RegionPeer, type Result } from '../src/index.ts';

const k = (s: string): Uint8Array => new TextEncoder().encode(s);

function peerOf(peers: Peer[]): { peer: RegionPeer; answers: Result<unknown>[] } {
  const region: Region = { id: 5, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 3, version: 2 }, peers };
  const answers: Result<unknown>[] = [];
  const peer = {
    regionId: 5,
    region,
    applied: 6,
    persistedEffectsThrough: 0,
    mutations: {},
    dedup: new DedupTable(),
    machine: new DataRegionMachine(COMMAND_HANDLERS),
    proposals: [{ index: 7, term: 2, resolve: (r: Result<unknown>) => answers.push(r) }],
    isLeader: () => true,
    notLeader: () => ({ kind: 'NotLeader', regionId: 5 }),
  } as unknown as RegionPeer;
  return { peer, answers };
}

function splitEntry(): Entry {
  return { type: 'normal', index: 7, term: 2, data: encodeCommand({ type: 'split', splitKey: k('m'), newRegionId: 9, newPeerIds: [11, 12, 13, 14] }) };
}

function apply(peer: RegionPeer): ReturnType<typeof applyEntries> {
  const fx = applyEntries(peer, [splitEntry()], { kv: new WriteBatch(), storeId: 1, dataCfs: ['default'], dataModel: 'raw', observers: [], counters: { observerErrors: 0, staleKeyEntries: 0 } });
  for (const cb of fx.callbacks) cb();
  return fx;
}

const voters: Peer[] = [1, 2, 3].map((s) => ({ id: s, storeId: s, role: 'voter' }));

describe('apply: split', () => {
  it('is refused while the region is in a joint configuration, with nothing changed', () => {
    for (const role of ['demotingVoter', 'incomingVoter'] as const) {
      const { peer, answers } = peerOf([...voters, { id: 4, storeId: 4, role }]);
      const fx = apply(peer);
      expect(fx.splits).toEqual([]);
      expect(answers).toHaveLength(1);
      expect(answers[0].ok === false && answers[0].error.kind).toBe('ServerIsBusy');
      expect(peer.region.epoch.version).toBe(2);
      expect(peer.region.endKey).toEqual(new Uint8Array());
      expect(peer.applied).toBe(7);
    }
  });

  it('applies once the configuration is plain: the right half gets the same stores and plain roles', () => {
    const { peer, answers } = peerOf([...voters, { id: 4, storeId: 4, role: 'learner' }]);
    const fx = apply(peer);
    expect(answers[0].ok).toBe(true);
    expect(fx.splits).toHaveLength(1);
    expect(fx.splits[0].region.peers.map((p) => [p.id, p.storeId, p.role])).toEqual([
      [11, 1, 'voter'],
      [12, 2, 'voter'],
      [13, 3, 'voter'],
      [14, 4, 'learner'],
    ]);
    expect(peer.region.endKey).toEqual(k('m'));
    expect(peer.region.epoch.version).toBe(3);
  });
});
