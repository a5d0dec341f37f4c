/**
 * @peerkv/pd: the placement driver. Cluster metadata types; the replicated state machine
 * (`PdStateMachine`) with its command and snapshot codecs; the leader-side id allocator and
 * timestamp oracle; operators, the operator controller and the schedulers.
 */
export * from './meta.ts';
export * from './errors.ts';
export * from './limits.ts';
export * from './config.ts';
export * from './timestamp.ts';
export * from './command.ts';
export { COMMAND_KINDS, decodePdCommand, encodePdCommand } from './command-codec.ts';
export { PD_SNAPSHOT_FORMAT } from './snapshot-codec.ts';
export type { StoreInfo } from './pd-state.ts';
export { RegionTree, type RegionInfo } from './region-tree.ts';
export { PdStateMachine } from './state-machine.ts';
export * from './tso.ts';
export * from './id-allocator.ts';
