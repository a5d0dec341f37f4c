/**
 * The PeerKV demo: a shopping list whose data lives in the profile's embedded PeerKV
 * cluster, beside a live dashboard of that cluster with fault controls (test hooks on).
 */
import { openBrowser } from 'peerkv/browser';
import { mountDashboard } from './dashboard.ts';
import { mountList } from './list.ts';

const kv = await openBrowser({ cluster: 'demo', embedded: true, testHooks: true });
mountList(kv);
mountDashboard(kv);
document.body.dataset.ready = 'true';
