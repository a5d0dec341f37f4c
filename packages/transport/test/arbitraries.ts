/** fast-check generators for the Raft data model and transport frames. */
import fc from 'fast-check';
import { MESSAGE_TYPES } from '@peerkv/raft';
import type { ConfState, Entry, Message, Snapshot } from '@peerkv/raft';
import type { RaftBatch, RegionMessage } from '../src/codec/envelope.ts';
import type { Frame, RpcWireResult } from '../src/codec/frame.ts';

const u53 = fc.oneof(fc.nat(1000), fc.nat(), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 64 });
const ids = fc.array(fc.nat(1 << 20), { maxLength: 6 });

export const arbEntry: fc.Arbitrary<Entry> = fc.record({
  term: u53,
  index: u53,
  type: fc.constantFrom('normal' as const, 'confChange' as const),
  data: bytes,
});

export const arbConfState: fc.Arbitrary<ConfState> = fc.record({
  voters: ids,
  learners: ids,
  votersOutgoing: ids,
  learnersNext: ids,
  autoLeave: fc.boolean(),
});

export const arbSnapshot: fc.Arbitrary<Snapshot> = fc.record({
  data: bytes,
  metadata: fc.record({ confState: arbConfState, index: u53, term: u53 }),
});

export function arbMessageOf(type: Message['type']): fc.Arbitrary<Message> {
  return fc.record(
    {
      type: fc.constant(type),
      to: u53,
      from: u53,
      term: u53,
      logTerm: u53,
      index: u53,
      entries: fc.array(arbEntry, { maxLength: 4 }),
      commit: u53,
      snapshot: arbSnapshot,
      reject: fc.boolean(),
      rejectHint: u53,
      context: bytes,
    },
    { requiredKeys: ['type', 'to', 'from', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint'] },
  );
}

export const arbMessage: fc.Arbitrary<Message> = fc.constantFrom(...MESSAGE_TYPES).chain(arbMessageOf);

export const arbRegionMessage: fc.Arbitrary<RegionMessage> = fc.record({
  regionId: u53,
  regionEpoch: fc.record({ confVer: u53, version: u53 }),
  message: arbMessage,
});

const clusterId = fc.string({ maxLength: 24 });

export const arbBatch: fc.Arbitrary<RaftBatch> = fc.record({
  clusterId,
  fromStoreId: u53,
  toStoreId: u53,
  messages: fc.array(arbRegionMessage, { maxLength: 5 }),
});

const arbRpcResult: fc.Arbitrary<RpcWireResult> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((payload) => ({ ok: true as const, payload })),
  fc.record({ error: fc.constantFrom('RemoteFailed' as const, 'PayloadTooLarge' as const, 'TooManyPending' as const), message: fc.string({ maxLength: 40 }) }).map((e) => ({ ok: false as const, ...e })),
);

export const arbFrame: fc.Arbitrary<Frame> = fc.oneof(
  arbBatch.map((batch) => ({ type: 'raftBatch' as const, batch })),
  fc.record({ clusterId, fromStoreId: u53, toStoreId: u53 }).chain((h) =>
    arbRegionMessage.map((m) => ({ type: 'raftEnvelope' as const, envelope: { ...h, ...m } })),
  ),
  fc.record({ clusterId, storeId: u53, nonce: fc.uint8Array({ minLength: 32, maxLength: 32 }) }).map((h) => ({ type: 'authHello' as const, ...h })),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((proof) => ({ type: 'authProof' as const, proof })),
  fc.record({ requestId: u53, payload: fc.uint8Array({ maxLength: 64 }) }).map((r) => ({ type: 'rpcRequest' as const, ...r })),
  fc.record({ requestId: u53, result: arbRpcResult }).map((r) => ({ type: 'rpcResponse' as const, ...r })),
);
