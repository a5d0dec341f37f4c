/**
 * Requested snapshots (snapshot-request.ts): a replica whose accepted snapshot was lost asks
 * its leader again every `requestIntervalMs`; past `requestsMax` it is also reported damaged to
 * PD, and it keeps asking (FINDINGS.md S1: PD cannot replace a replica that every quorum left
 * needs, such as an incoming voter of a joint configuration, so a replica that stopped asking
 * left the region stuck in its joint configuration for good).
 */
import { describe, expect, it } from 'vitest';
import type { RegionMessage } from '@peerkv/transport';
import { SnapshotRequests, type RequestEnv } from '../src/snapshot-request.ts';
import { decodeSnapshotFrame } from '../src/snapshot-frames.ts';
import type { RegionPeer } from '../src/peer.ts';
import type { SnapshotTransferStatus } from '../src/options.ts';

const INTERVAL_MS = 100;

/** A manual clock: `advance` fires the timers due, in order. */
class ManualTimers {
  private now = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; f: () => void }>();
  setTimeout = (f: () => void, ms: number): number => {
    const id = ++this.seq;
    this.due.set(id, { at: this.now + ms, f });
    return id;
  };
  clearTimeout = (id: unknown): void => {
    this.due.delete(id as number);
  };
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = [...this.due.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) break;
      this.due.delete(next[0]);
      this.now = next[1].at;
      next[1].f();
    }
    this.now = end;
  }
}

/** A replica of region 3 (peer 12 on store 2; peers 11 on store 1 and 13 on store 3) whose apply at index 104 failed. */
function failedReplica(): { peer: RegionPeer; asked: number[] } {
  const asked: number[] = [];
  const peer = {
    regionId: 3,
    peerId: 12,
    destroyed: false,
    region: {
      id: 3,
      startKey: new Uint8Array(),
      endKey: new Uint8Array(),
      epoch: { confVer: 10, version: 3 },
      peers: [
        { id: 11, storeId: 1, role: 'voter' },
        { id: 12, storeId: 2, role: 'incomingVoter' },
        { id: 13, storeId: 3, role: 'voter' },
      ],
    },
    applying: { index: 104, term: 10, data: new Uint8Array(), task: undefined, failed: 'staged chunk 2 of 29 of region 3 is gone' },
    raw: { requestSnapshot: (index: number) => asked.push(index) },
  };
  return { peer: peer as unknown as RegionPeer, asked };
}

function requests(peer: RegionPeer, requestsMax: number): { r: SnapshotRequests; timers: ManualTimers; sent: RegionMessage[]; status: SnapshotTransferStatus } {
  const timers = new ManualTimers();
  const sent: RegionMessage[] = [];
  const status = {} as SnapshotTransferStatus;
  const env: RequestEnv = {
    limits: { requestIntervalMs: INTERVAL_MS, requestsMax },
    status,
    timers,
    peer: () => peer,
    restartRaft: () => {},
    receiving: () => false,
    send: (_store, rm) => sent.push(rm),
    wake: () => {},
    stopped: () => false,
  };
  return { r: new SnapshotRequests(env), timers, sent, status };
}

describe('requested snapshots', () => {
  it('past requestsMax reports the replica damaged and keeps asking every interval', () => {
    const { peer, asked } = failedReplica();
    const { r, timers, sent, status } = requests(peer, 3);
    r.begin(peer);
    expect(asked).toEqual([104]);
    // Each request goes to both other replicas (the leader may have moved).
    expect(sent).toHaveLength(2);
    expect(decodeSnapshotFrame(sent[0].message.context!)).toMatchObject({ kind: 'request', index: 104 });
    timers.advance(2 * INTERVAL_MS);
    expect(status.requestsSent).toBe(3);
    expect(peer.applying!.damaged).toBeUndefined();
    // The fourth attempt is past requestsMax: reported to PD, and the request still goes out.
    timers.advance(INTERVAL_MS);
    expect(peer.applying!.damaged).toBe(true);
    expect(status.requestsSent).toBe(4);
    timers.advance(10 * INTERVAL_MS);
    expect(status.requestsSent).toBe(14);
    expect(sent).toHaveLength(28);
    // A new snapshot arrives: the asking stops, its count carried to the new apply.
    expect(r.end(peer, true)).toBe(14);
    timers.advance(10 * INTERVAL_MS);
    expect(status.requestsSent).toBe(14);
    expect(status.requestsAnswered).toBe(1);
  });

  it('a re-sent snapshot that fails too stays reported and asks again after an interval', () => {
    const { peer } = failedReplica();
    const { r, timers, status } = requests(peer, 2);
    r.begin(peer);
    timers.advance(5 * INTERVAL_MS);
    const sentBefore = r.end(peer, true);
    expect(sentBefore).toBe(6);
    // The new snapshot's apply failed as well (its own `applying`, carrying the count).
    peer.applying = { index: 120, term: 10, data: new Uint8Array(), task: undefined, failed: 'staged chunk 0 of 29 of region 3 is gone', requestsSentBefore: sentBefore };
    r.begin(peer);
    expect(peer.applying?.damaged).toBe(true);
    expect(status.requestsSent).toBe(6);
    timers.advance(INTERVAL_MS);
    expect(status.requestsSent).toBe(7);
  });

  it('with requestsMax 0 is reported at once and never asks (PD replacement only)', () => {
    const { peer, asked } = failedReplica();
    const { r, timers, sent } = requests(peer, 0);
    r.begin(peer);
    timers.advance(10 * INTERVAL_MS);
    expect(peer.applying!.damaged).toBe(true);
    expect(asked).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('stops asking once the replica is destroyed', () => {
    const { peer } = failedReplica();
    const { r, timers, status } = requests(peer, 2);
    r.begin(peer);
    timers.advance(5 * INTERVAL_MS);
    expect(status.requestsSent).toBe(6);
    (peer as { destroyed: boolean }).destroyed = true;
    timers.advance(10 * INTERVAL_MS);
    expect(status.requestsSent).toBe(6);
  });
});
