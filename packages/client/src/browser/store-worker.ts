/**
 * The dedicated Worker of the host tab: it owns the profile's `EmbeddedCluster` (stores on
 * IndexedDB, Raft ticks, the PeerKV client) and exposes `WorkerApi` through comlink.
 */
import * as Comlink from 'comlink';
import { IdbEngine } from '@peerkv/storage';
import { createWorkerApi } from './worker-api.ts';

Comlink.expose(createWorkerApi((name, columnFamilies) => IdbEngine.open({ name, columnFamilies })));
