/**
 * Test utilities other packages' tests use (`@peerkv/transport/testing`): a fake simple-peer
 * factory and the sequence-message helpers. Not part of the runtime entry.
 */
export { fakePeerFactory } from './fake-peer.ts';
export { seqMessage, seqOf } from './helpers.ts';
