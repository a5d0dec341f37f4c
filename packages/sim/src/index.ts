/**
 * @peerkv/sim: the deterministic cluster simulator (test-only; never imported by production
 * code). `runSeed(defaultOptions(seed))` runs one seeded cluster with faults and checks it.
 */
export { runSeed, type SeedResult } from './simulation.ts';
export { defaultOptions, DEFAULT_FAULTS, DEFAULT_CLIENTS, DEFAULT_STORAGE, type SimOptions, type SimMutations, type FaultProfile } from './options.ts';
export { swarmProfile, churnFaults, flapFaults } from './swarm.ts';
export { checkLinearizable, type CheckReport, type Verdict, type KeyFinding } from './linearizability.ts';
export { History, describeOp, type Operation, type OpKind, type OpStatus, type OpVia, type Value } from './history.ts';
export { InvariantChecker, type Violation, type ViolationKind } from './invariants.ts';
export { SimStorage, type Durability, type StorageOp } from './sim-storage.ts';
export { KvStateMachine } from './kv.ts';
export { EventQueue } from './event-queue.ts';
