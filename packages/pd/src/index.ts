/**
 * @peerkv/pd: the placement driver. Cluster metadata types; the replicated state machine
 * (`PdStateMachine`) with its command and snapshot codecs; the leader-side id allocator and
 * timestamp oracle; operators, the operator controller and the schedulers.
 */
export * from './meta.ts';
export { PdAssertionError, PdDecodeError, type PdDecodeErrorKind, type PdError } from './errors.ts';
export * from './limits.ts';
export * from './config.ts';
export * from './timestamp.ts';
export * from './command.ts';
export { COMMAND_KINDS, decodePdCommand, encodePdCommand } from './command-codec.ts';
export { checkedScheduleConfig, readScheduleConfig, writeScheduleConfig } from './codec/config-codec.ts';
export { PD_SNAPSHOT_FORMAT, SNAPSHOT_SECTIONS } from './snapshot-codec.ts';
/** A store as PD knows it (meta, last stats, last heartbeat time). */
export type { StoreInfo } from './pd-state.ts';
export { RegionTree, type RegionInfo } from './region-tree.ts';
export { PdStateMachine } from './state-machine.ts';
export * from './tso.ts';
export * from './gc-safe-point.ts';
export * from './id-allocator.ts';
export * from './operator/types.ts';
export { isStepDone, isStale, predates, type RegionStatus } from './operator/progress.ts';
export * from './operator/build.ts';
export * from './operator/controller.ts';
export { ClusterView, type ScheduleInput, type StoreView } from './schedulers/cluster-view.ts';
export { distinctDomains, pickLeaderTarget, pickTargetStore, placementScore, sharesLabel } from './schedulers/placement.ts';
export { checkReplicas, type ReplicaTarget } from './schedulers/replica-checker.ts';
export { balanceLeaders, drainLeaders, type RegionFree, type SubmitOperator } from './schedulers/leader-schedulers.ts';
export { balanceRegions, checkSplits } from './schedulers/region-schedulers.ts';
export * from './schedulers/checker-controller.ts';
export * from './schedulers/scheduler.ts';
export * from './heartbeat-filter.ts';
export * from './join-progress.ts';
export * from './pd-leader.ts';
