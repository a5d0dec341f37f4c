/**
 * The PeerKV demo: a shopping list whose data lives in the demo cluster (this profile's
 * networked store plus every other browser's that opens the page against the same signaling
 * server), beside a live dashboard of that cluster with fault controls (test hooks on).
 */
import { mountDashboard } from './dashboard.ts';
import { mountList } from './list.ts';
import { DemoStores } from './stores.ts';

const stores = await DemoStores.open();
const dashboard = mountDashboard(stores);
mountList(stores.main.kv, (line) => dashboard.note(line));
document.body.dataset.ready = 'true';
