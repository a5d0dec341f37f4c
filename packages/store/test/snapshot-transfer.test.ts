/**
 * Chunked snapshots carrying every data column family: a new replica with a fourth column
 * family is caught up by a snapshot sent as many chunks under flow control; a dropped chunk is
 * sent again, duplicates are ignored, an oversize snapshot is refused (and nothing of it is
 * installed), garbage frames and headers are dropped without harm, and an inline (format 2)
 * snapshot of an older peer is still installed as `default`-only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region } from '@peerkv/pd';
import type { Message } from '@peerkv/raft';
import type { RegionMessage } from '@peerkv/transport';
import { SNAPSHOT_FORMAT_CHUNKED, SNAPSHOT_HEADER_BYTES_MAX, SnapshotDecodeError, Store, decodeSnapshotData, encodeSnapshotHeader, encodeSnapshotPayload } from '../src/index.ts';
import { decodeSnapshotFrame, encodeSnapshotFrame, isSnapshotFrameMessage, snapshotFrameMessage, type SnapshotFrame } from '../src/snapshot-frames.ts';
import { sleep, until } from './helpers.ts';
import { DATA_CFS, R, SnapshotCluster, k, pairsOf } from './snapshot-cluster.ts';

const dec = new TextDecoder();
const c = new SnapshotCluster('snap');

function chunkOf(rm: RegionMessage): SnapshotFrame | undefined {
  if (!isSnapshotFrameMessage(rm)) return undefined;
  const f = decodeSnapshotFrame(rm.message.context!);
  return f.kind === 'chunk' ? f : undefined;
}

afterEach(() => c.closeAll());

describe('chunked snapshots', () => {
  it('catches a new replica up with every data column family, in many chunks under flow control', async () => {
    const limits = { chunkBytesMax: 64, chunksInflightMax: 2 };
    let inflightSeen = 0;
    const acked = new Map<string, number>();
    const sent = new Map<string, number>();
    c.filter = (_from, _to, rm) => {
      if (!isSnapshotFrameMessage(rm)) return 1;
      const f = decodeSnapshotFrame(rm.message.context!);
      const id = `${f.id.storeId}.${f.id.seq}`;
      if (f.kind === 'ack') acked.set(id, Math.max(acked.get(id) ?? 0, f.next));
      if (f.kind === 'chunk') sent.set(id, Math.max(sent.get(id) ?? 0, f.seq + 1));
      inflightSeen = Math.max(inflightSeen, (sent.get(id) ?? 0) - (acked.get(id) ?? 0));
      return 1;
    };
    const { leader } = await c.threeStoresWithData(limits);
    const n4 = await c.addLearner(leader, limits);
    await c.caughtUp(n4, leader);
    for (const cf of DATA_CFS) {
      const pairs = await pairsOf(n4.engine, cf);
      expect(pairs).toHaveLength(40);
      expect(pairs[39]).toBe(`k39=${cf}-39`);
    }
    const got = n4.store.status();
    const sentBy = leader.status().snapshotTransfer!;
    expect(got.counters.snapshotsInstalled).toBeGreaterThan(0);
    // 40 keys × 4 column families of ≥ 12 bytes each: dozens of 64-byte chunks.
    expect(got.snapshotTransfer!.chunksReceived).toBeGreaterThan(30);
    expect(got.snapshotTransfer!.bytesReceived).toBeGreaterThan(40 * 4 * 12);
    expect(got.snapshotTransfer!.receivesCompleted).toBeGreaterThan(0);
    expect(sentBy.chunksSent).toBeGreaterThanOrEqual(got.snapshotTransfer!.chunksReceived);
    expect(sentBy.sendsSucceeded).toBeGreaterThan(0);
    expect(sentBy.sending).toBe(0);
    expect(got.snapshotTransfer!.receiving).toBe(0);
    // Never more than the window unacknowledged.
    expect(inflightSeen).toBeLessThanOrEqual(2);
    // The replica serves the data it got.
    const epoch = got.regions.find((r) => r.regionId === R)!.epoch;
    const v = await n4.store.get(R, epoch, k('k07'), 'follower');
    expect(v.ok && dec.decode(v.value!)).toBe('default-7');
  });

  it('sends a dropped chunk again and ignores duplicated ones', async () => {
    const limits = { chunkBytesMax: 64, chunksInflightMax: 3, resendMs: 50 };
    let dropped = 0;
    let duplicated = 0;
    c.filter = (_from, to, rm) => {
      const f = chunkOf(rm);
      if (!f || to !== 4 || f.kind !== 'chunk') return 1;
      if (f.seq === 3 && dropped < 2) {
        dropped++;
        return 0;
      }
      if (f.seq % 2 === 0) {
        duplicated++;
        return 2;
      }
      return 1;
    };
    const { leader } = await c.threeStoresWithData(limits);
    const n4 = await c.addLearner(leader, limits);
    await c.caughtUp(n4, leader);
    expect(dropped).toBe(2);
    expect(duplicated).toBeGreaterThan(0);
    expect(leader.status().snapshotTransfer!.chunksResent).toBeGreaterThan(0);
    expect(n4.store.status().snapshotTransfer!.chunksIgnored).toBeGreaterThan(0);
    for (const cf of DATA_CFS) expect(await pairsOf(n4.engine, cf)).toHaveLength(40);
  });

  it('a receiver restarted mid-transfer refuses the rest; the leader retries and the new replica gets it all', async () => {
    const limits = { chunkBytesMax: 64, chunksInflightMax: 2, resendMs: 30 };
    let hold = true;
    c.filter = (_from, to, rm) => {
      const f = chunkOf(rm);
      return f && f.kind === 'chunk' && to === 4 && hold && f.seq >= 4 ? 0 : 1;
    };
    const { leader } = await c.threeStoresWithData(limits);
    const n4 = await c.addLearner(leader, limits);
    await until('part of the stream', () => n4.store.status().snapshotTransfer!.chunksReceived >= 4);
    // Restart store 4 on its engine (no link-down event: its chunks now meet a store that forgot them).
    await n4.store.close();
    c.nodes.delete(4);
    const again = await Store.open({
      dataModel: 'raw',
      storeId: 4,
      clusterId: 'snap',
      engine: n4.engine,
      dataColumnFamilies: DATA_CFS,
      transport: c.transport(4),
      tickIntervalMs: 10,
      hibernateAfterTicks: 1_000_000,
      snapshotTransfer: limits,
    });
    c.router.register(again);
    const n4b = { store: again, engine: n4.engine, disk: n4.disk };
    c.nodes.set(4, n4b);
    hold = false;
    await c.caughtUp(n4b, leader);
    expect(again.status().snapshotTransfer!.refused['Unknown'] ?? 0).toBeGreaterThan(0);
    expect(leader.status().snapshotTransfer!.sendsFailed).toBeGreaterThan(0);
    for (const cf of DATA_CFS) expect(await pairsOf(n4.engine, cf)).toHaveLength(40);
  });

  it('a sender lost mid-transfer: the receiver drops the part it holds; the next leader sends a whole snapshot', async () => {
    const limits = { chunkBytesMax: 64, chunksInflightMax: 2, resendMs: 30 };
    let hold = true;
    c.filter = (_from, to, rm) => {
      const f = chunkOf(rm);
      return f && f.kind === 'chunk' && to === 4 && hold && f.seq >= 4 ? 0 : 1;
    };
    const { leader } = await c.threeStoresWithData(limits);
    const n4 = await c.addLearner(leader, limits);
    await until('part of the stream', () => n4.store.status().snapshotTransfer!.chunksReceived >= 4);
    c.router.unregister(leader.storeId);
    await leader.close();
    c.nodes.delete(leader.storeId);
    expect(n4.store.status().snapshotTransfer!.receivesFailed).toBeGreaterThan(0);
    expect(n4.store.status().snapshotTransfer!.receiving).toBe(0);
    expect(n4.store.status().counters.snapshotsInstalled).toBe(0);
    hold = false;
    const next = await c.leaderOf(R);
    await c.caughtUp(n4, next);
    expect(next.status().snapshotTransfer!.sendsSucceeded).toBeGreaterThan(0);
    for (const cf of DATA_CFS) expect(await pairsOf(n4.engine, cf)).toHaveLength(40);
  });

  it('refuses a snapshot larger than the receiver takes: nothing is installed, the leader is told', async () => {
    const { leader } = await c.threeStoresWithData({ chunkBytesMax: 64 });
    const n4 = await c.addLearner(leader, { snapshotBytesMax: 100 });
    await until('a refusal', () => (n4.store.status().snapshotTransfer!.refused['TooLarge'] ?? 0) > 0);
    await until('the leader told', () => (leader.status().snapshotTransfer!.refused['peer:TooLarge'] ?? 0) > 0 && leader.status().snapshotTransfer!.sendsFailed > 0);
    expect(n4.store.status().snapshotTransfer!.chunksReceived).toBe(0);
    expect(n4.store.status().counters.snapshotsInstalled).toBe(0);
    for (const cf of DATA_CFS) expect(await pairsOf(n4.engine, cf)).toHaveLength(0);
  });

  it('drops garbage frames and headers without harm', async () => {
    const n = await c.start(9, {});
    const frame = (context: Uint8Array): RegionMessage => {
      const rm = snapshotFrameMessage(R, { confVer: 1, version: 1 }, 11, 19, { kind: 'abort', id: { storeId: 1, boot: 1, seq: 1 } });
      return { ...rm, message: { ...rm.message, context } };
    };
    n.store.receive(1, [frame(new Uint8Array([0xff, 0xff, 0xff])), frame(new Uint8Array([0])), frame(new Uint8Array())]);
    // A chunk of a transfer the store never heard of: answered, not stored.
    n.store.receive(1, [snapshotFrameMessage(R, { confVer: 1, version: 1 }, 11, 19, { kind: 'chunk', id: { storeId: 1, boot: 1, seq: 7 }, seq: 0, data: k('zzz') })]);
    const snapMsg = (data: Uint8Array): RegionMessage => ({
      regionId: R,
      regionEpoch: { confVer: 1, version: 1 },
      message: { ...emptyMessage(), type: 'MsgSnap', to: 19, from: 11, term: 6, snapshot: { data, metadata: { index: 30, term: 6, confState: { voters: [11, 19], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } } },
    });
    n.store.receive(1, [snapMsg(new Uint8Array([3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), snapMsg(new Uint8Array([77]))]);
    await sleep(50);
    const st = n.store.status();
    expect(st.stoppedReason).toBeUndefined();
    expect(st.snapshotTransfer!.undecodable).toBeGreaterThanOrEqual(5);
    expect(st.snapshotTransfer!.chunksIgnored).toBe(1);
    expect(st.counters.snapshotsInstalled).toBe(0);
  });

  it('refuses an oversize or foreign header with a typed error', () => {
    const region: Region = { id: R, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 1, version: 1 }, peers: [] };
    const header = { id: { storeId: 1, boot: 1, seq: 1 }, region, cfs: ['default'], pairs: 0, dedupEntries: 0, bytes: 0, chunkBytes: 64, crc: 0 };
    const ok = decodeSnapshotData(encodeSnapshotHeader(header));
    expect(ok.format).toBe(SNAPSHOT_FORMAT_CHUNKED);
    const huge = encodeSnapshotHeader({ ...header, region: { ...region, startKey: new Uint8Array(SNAPSHOT_HEADER_BYTES_MAX) } });
    expect(() => decodeSnapshotData(huge)).toThrow(SnapshotDecodeError);
    try {
      decodeSnapshotData(huge);
    } catch (e) {
      expect((e as SnapshotDecodeError).kind).toBe('HeaderTooLarge');
    }
    expect(() => decodeSnapshotData(new Uint8Array([9]))).toThrow(expect.objectContaining({ kind: 'UnknownFormat' }));
    expect(() => decodeSnapshotData(new Uint8Array([3, 1]))).toThrow(expect.objectContaining({ kind: 'Malformed' }));
    // Frames round-trip and refuse unknown kinds.
    const f: SnapshotFrame = { kind: 'chunk', id: { storeId: 1, boot: 2, seq: 3 }, seq: 4, data: k('abc') };
    expect(decodeSnapshotFrame(encodeSnapshotFrame(f))).toEqual(f);
    expect(() => decodeSnapshotFrame(new Uint8Array([9, 1, 1, 1]))).toThrow(SnapshotDecodeError);
  });

  it('installs an inline (format 2) snapshot of an older peer as default-only', async () => {
    const n = await c.start(9, {});
    // Stale data in another column family of the range is replaced too (the snapshot is the whole state).
    const region: Region = { id: R, startKey: new Uint8Array(), endKey: new Uint8Array(), epoch: { confVer: 2, version: 1 }, peers: [{ id: 11, storeId: 1, role: 'voter' }, { id: 19, storeId: 9, role: 'voter' }] };
    const data = encodeSnapshotPayload({ region, pairs: [{ key: k('a'), value: k('1') }, { key: k('b'), value: k('2') }], dedup: [] });
    const message: Message = { ...emptyMessage(), type: 'MsgSnap', to: 19, from: 11, term: 6, snapshot: { data, metadata: { index: 30, term: 6, confState: { voters: [11, 19], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } } };
    n.store.receive(1, [{ regionId: R, regionEpoch: region.epoch, message }]);
    await until('installed', () => n.store.status().counters.snapshotsInstalled > 0);
    expect(await pairsOf(n.engine, 'default')).toEqual(['a=1', 'b=2']);
    expect(await pairsOf(n.engine, 'lock')).toEqual([]);
    expect(n.store.status().regions.find((r) => r.regionId === R)!.applied).toBe(30);
  });
});

function emptyMessage(): Message {
  return { type: 'MsgHeartbeat', to: 0, from: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}
