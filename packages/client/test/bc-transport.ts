/**
 * BroadcastChannel transports for the network-cluster tests (`net-cluster`, `witness-net`):
 * one per store or client, closed by the test's cleanups.
 */
import { BroadcastChannelTransport, type ClusterKeys } from '@peerkv/transport';

/** A transport factory over `keys` whose transports `cleanups` closes. */
export function bcTransportFactory(keys: ClusterKeys, cleanups: (() => unknown)[]): (storeId: number) => BroadcastChannelTransport {
  return (storeId) => {
    const tr = new BroadcastChannelTransport({ localStoreId: storeId, keys, heartbeatIntervalMs: 50, departureTimeoutMs: 400 });
    cleanups.push(() => tr.close());
    return tr;
  };
}
