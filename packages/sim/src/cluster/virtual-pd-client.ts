/**
 * The PD client of the simulated cluster: `LocalPdClient` (call the store whose PD replica
 * leads) with PD commands stamped by the virtual clock instead of `Date.now` (heartbeat
 * times drive "store down" decisions, so they must be virtual).
 */
import { LocalPdClient, type Store } from '@peerkv/store';

/** A `LocalPdClient` on the simulator's clock. */
export class VirtualPdClient extends LocalPdClient {
  constructor(storeList: () => Iterable<Store>, now: () => number) {
    super(storeList, now);
  }
}
