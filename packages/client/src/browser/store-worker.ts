/**
 * The dedicated Worker of the host tab: it owns the profile's store (`NetHost`, or the
 * `EmbeddedCluster` on request: stores on IndexedDB, Raft ticks, the PeerKV client) and
 * exposes `WorkerApi` through comlink. Its WebRTC peers are bridged to the page.
 */
import * as Comlink from 'comlink';
import { IdbEngine } from '@peerkv/storage';
import { bridgedPeerFactory } from '@peerkv/transport';
import { createWorkerApi } from './worker-api.ts';

/** The profile's database names, or undefined where `indexedDB.databases()` is missing or fails. */
async function databaseNames(): Promise<string[] | undefined> {
  if (typeof indexedDB.databases !== 'function') return undefined;
  return (await indexedDB.databases()).flatMap((d) => (d.name ? [d.name] : []));
}

Comlink.expose(createWorkerApi({ openEngine: (name, columnFamilies) => IdbEngine.open({ name, columnFamilies }), peersOver: (port) => bridgedPeerFactory(port), databaseNames }));
