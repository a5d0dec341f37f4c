/**
 * @peerkv/raft: a pure Raft state machine. No timers, clocks, randomness, storage or network:
 * ticks and a seeded PRNG are inputs; I/O leaves as `Ready`.
 */
export * from './types.ts';
export * from './errors.ts';
export * from './storage.ts';
export * from './config.ts';
export * from './ready.ts';
export * from './rng.ts';
export * from './raw-node.ts';
export { CAMPAIGN_TRANSFER, READ_INDEX_PENDING_MAX, READ_INDEX_WAITING_MAX } from './raft.ts';
export { encodeConfChange, decodeConfChange, ConfChangeDecodeError } from './confchange/codec.ts';
export { majorityCommittedIndex, majorityVoteResult, type VoteResult } from './quorum/majority.ts';
export { jointCommittedIndex, jointVoteResult } from './quorum/joint.ts';
