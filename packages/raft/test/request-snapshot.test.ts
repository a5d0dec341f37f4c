/**
 * A follower that lost the state a snapshot carried asks the leader for another one
 * (raft-rs `request_snapshot`): the leader's next send to it is a snapshot, the follower
 * takes no entries meanwhile, never campaigns, and installs a snapshot at or above the
 * requested index even though its log already covers that index.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, MemoryStorage, RawNode, SeededRng, type Message } from '../src/index.ts';

interface Node {
  id: number;
  node: RawNode;
  storage: MemoryStorage;
  /** Snapshots handed to the application (installed into `storage`). */
  installed: number[];
}

function make(id: number, storage: MemoryStorage): Node {
  return { id, storage, installed: [], node: new RawNode({ ...DEFAULT_CONFIG, electionTicks: 10, heartbeatTicks: 1, id, storage, rng: new SeededRng(id) }) };
}

/** Runs every node's Ready and delivers the messages until nothing moves; `drop` filters deliveries. */
function stabilize(nodes: Node[], drop: (m: Message) => boolean = () => false): Message[] {
  const seen: Message[] = [];
  for (let round = 0; round < 100; round++) {
    const inflight: Message[] = [];
    for (const n of nodes) {
      while (n.node.hasReady()) {
        const rd = n.node.ready();
        if (rd.snapshot) {
          n.storage.applySnapshot(rd.snapshot);
          n.installed.push(rd.snapshot.metadata.index);
        }
        n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        inflight.push(...rd.messages, ...rd.persistedMessages);
        n.node.advance(rd);
      }
    }
    if (inflight.length === 0) return seen;
    for (const m of inflight) {
      seen.push(m);
      if (drop(m)) continue;
      nodes.find((n) => n.id === m.to)?.node.step(m);
    }
  }
  throw new Error('did not stabilize');
}

function propose(leader: Node, nodes: Node[], n: number): void {
  for (let i = 0; i < n; i++) {
    leader.node.propose(new TextEncoder().encode(`v${i}`));
    stabilize(nodes);
  }
}

describe('requested snapshots', () => {
  it('the leader answers a request with a snapshot at or above the requested index, which the follower installs although its log covers it', () => {
    const nodes = [make(1, MemoryStorage.withVoters([1, 2, 3])), make(2, MemoryStorage.withVoters([1, 2, 3])), make(3, MemoryStorage.withVoters([1, 2, 3]))];
    const [leader, follower] = nodes;
    leader.node.campaign();
    stabilize(nodes);
    expect(leader.node.status().role).toBe('leader');
    propose(leader, nodes, 5);
    const covered = follower.node.status().commit;
    expect(follower.storage.lastIndex()).toBe(covered);
    // The leader's snapshot (what its application would send) is taken at its applied state.
    leader.storage.createSnapshot(leader.storage.lastIndex(), leader.node.status().config, new Uint8Array([7]));

    expect(follower.node.requestSnapshot(covered)).toBe(true);
    expect(follower.node.awaitingRequestedSnapshot()).toBe(true);
    // While waiting the follower appends nothing, so nothing applies on missing state.
    const before = follower.storage.lastIndex();
    propose(leader, nodes, 1);
    expect(follower.storage.lastIndex()).toBe(before);

    expect(leader.node.handleSnapshotRequest(2, covered)).toBe(true);
    const sent = stabilize(nodes);
    const snaps = sent.filter((m) => m.type === 'MsgSnap' && m.to === 2);
    expect(snaps).toHaveLength(1);
    expect(snaps[0].snapshot!.metadata.index).toBeGreaterThanOrEqual(covered);
    // Installed although the follower's log already held that index.
    expect(follower.installed).toEqual([snaps[0].snapshot!.metadata.index]);
    expect(follower.node.awaitingRequestedSnapshot()).toBe(false);
    // And, once the transfer is reported done, it replicates again from there.
    leader.node.reportSnapshot(2, true);
    leader.node.tick();
    stabilize(nodes);
    propose(leader, nodes, 2);
    expect(follower.storage.lastIndex()).toBe(leader.storage.lastIndex());
  });

  it('a follower waiting for a requested snapshot never campaigns, refuses a snapshot below the requested index, and the request is refused by a non-leader', () => {
    const nodes = [make(1, MemoryStorage.withVoters([1, 2, 3])), make(2, MemoryStorage.withVoters([1, 2, 3])), make(3, MemoryStorage.withVoters([1, 2, 3]))];
    const [leader, follower] = nodes;
    leader.node.campaign();
    stabilize(nodes);
    propose(leader, nodes, 3);
    const at = follower.node.status().commit;
    expect(leader.node.requestSnapshot(at)).toBe(false);
    expect(follower.node.handleSnapshotRequest(1, at)).toBe(false);
    follower.node.requestSnapshot(at + 100);
    // An old snapshot (below what was asked) is not installed.
    leader.storage.createSnapshot(at, leader.node.status().config, new Uint8Array([1]));
    leader.node.handleSnapshotRequest(2, at + 100);
    stabilize(nodes);
    expect(follower.installed).toEqual([]);
    expect(follower.node.awaitingRequestedSnapshot()).toBe(true);
    // The leader goes silent: the follower's election timer fires but it does not campaign.
    for (let i = 0; i < 50; i++) follower.node.tick();
    const sent = stabilize(nodes, (m) => m.from === 1);
    expect(sent.filter((m) => m.from === 2 && (m.type === 'MsgVote' || m.type === 'MsgPreVote'))).toEqual([]);
    expect(follower.node.status().role).toBe('follower');
  });
});
