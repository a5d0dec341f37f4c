/**
 * @peerkv/store: a PeerKV store hosting many region peers over one KvEngine.
 */
export * from './store.ts';
export * from './command.ts';
export * from './dedup.ts';
export * from './apply.ts';
export * from './leader-news.ts';
export { DataRegionMachine, PdRegionMachine } from './region-machine.ts';
export * from './keys.ts';
export { DATA_MODEL_DEFAULT, DATA_MODEL_VERSIONS, MVCC_DATA_CFS, MVCC_STORE_CFS, DataModelMismatchError, dataColumnFamiliesOf, storedKeyRange, userKeyOf, type DataModelRecord, type StoredKeyRange } from './data-model.ts';
export * from './snapshot.ts';
export { isSnapshotFrameMessage } from './snapshot-frames.ts';
export { LEARNED_PEER_STORES_MAX, PeerStores, raftPeerRefusal, type RaftPeerRefusal } from './peer-stores.ts';
export { REPLACEMENT_CHECK_MS_MIN, ReplacementChecks } from './replacement-check.ts';
export * from './store-key.ts';
export { DATA_KEYRING_KEYS_MAX, DataKeyring, SEALED_TAG, SEAL_FORMAT_V1, SEAL_FORMAT_VERSION, SEAL_KEY_ID_MAX, SEAL_NONCE_BYTES, SEAL_TAG_BYTES, SealedEntryError, isSealed, keyringOf, openPayload, sealPayload, sealedKeyId, webCryptoEntryCipher, type EntryCipher, type EntryKeyring, type SealBinding, type SealedEntryErrorKind } from './sealing.ts';
export * from './runtime-engine.ts';
export { WRITE_TRACE_SAMPLES_MAX, WRITE_TRACE_SPANS, spanStats, type WriteTraceSpan, type WriteTraceSummary, type ProposalTrace } from './write-trace.ts';
export * from './local-router.ts';
export * from './pd-host.ts';
export * from './pd-client.ts';
export { REGION_LOADS_INFLIGHT_MAX } from './identity.ts';
export { RegionPeer, type Result, type PendingProposal, type PendingRead, type RegionLocalState } from './peer.ts';
export * from './rpc/index.ts';
export * from './net/index.ts';
