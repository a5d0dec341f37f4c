/**
 * Cluster mode of the simulator: a PD-driven cluster of real stores and `PeerKV` clients on
 * deterministic virtual time, with a seeded nemesis (kills, wipes, partitions) and checks
 * (per-key linearizability, region coverage, replica convergence, stopped stores).
 */
export { runClusterSeed, historyHash, type ClusterSeedResult } from './run.ts';
export { runClusterCli, parseClusterArgs, ClusterCliError, CLUSTER_USAGE, CLUSTER_SEEDS_MAX, CLUSTER_MUTATIONS, HARNESS_MUTATIONS, STORE_MUTATIONS, TAB_SERVE_MUTATIONS, mutationOptions, type ClusterCliArgs, type ClusterMutationName } from './cli-cluster.ts';
export { LOG_GC_EAGER, defaultClusterOptions, type ClusterSimOptions, type ClusterMutations } from './options.ts';
export { VirtualScheduler, VirtualTimeoutError, VIRTUAL_EPOCH_MS } from './virtual-scheduler.ts';
export { VirtualPdClient } from './virtual-pd-client.ts';
export { ClusterEnv, type Device, type StoreFault } from './cluster-env.ts';
export { coverageProblem, convergenceProblem, overlapProblem, pdReplicaOverlapProblem, clusterDump, type ClusterViolation, type ClusterViolationKind } from './checks.ts';
export { runTxnSeed, defaultTxnOptions, TXN_DATA_CFS, type TxnSeedResult, type TxnSimOptions, type TxnMutations, type TxnViolation } from './txn-run.ts';
export { runTxnCli, parseTxnArgs, txnMutationOptions, TXN_MUTATIONS, TXN_USAGE, TxnCliError, type TxnCliArgs, type TxnMutationName } from './cli-txn.ts';
