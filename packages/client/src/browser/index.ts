/**
 * peerkv/browser: the browser runtime (a Worker-hosted store per profile, networked by default, one
 * host tab elected with Web Locks, other tabs attached over BroadcastChannel).
 */
export * from './protocol.ts';
export * from './embedded-cluster.ts';
export * from './embedded-backend.ts';
export * from './tab-channel.ts';
export * from './tab-writes.ts';
export * from './open-options.ts';
export * from './open-browser.ts';
export * from './host-worker.ts';
export * from './slots.ts';
export * from './worker-api.ts';
export * from './net-host.ts';
export * from './serve-request.ts';
export * from './request-check.ts';
export * from './device-id.ts';
export * from './offline-queue-idb.ts';
export * from './host-watches.ts';
export * from './tab-watch.ts';
export { TAB_VALUE_CHECKS, TabTxns, type TabTxnsOptions } from './tab-txn.ts';
export * from '../invite.ts';
export { generateClusterSecret, isGeneratedSecret } from '@peerkv/transport';
export * from './host-trace.ts';
export { SpanTrace, TRACE_SAMPLES_MAX, TRACE_SPANS_MAX, type SpanSummary, type TraceSummary } from '../trace.ts';
export { StaleSnapshot, type StalenessOptions } from '../txn/stale-reader.ts';
