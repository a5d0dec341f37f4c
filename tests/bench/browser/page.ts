/**
 * The page of `npm run bench:browser` (served by Vite, driven by `run.ts` through Playwright):
 * `window.bench` runs a fresh round of one system, opens and measures this profile's networked
 * PeerKV store (the 3-browser row), and runs raw simple-peer round trips to another browser
 * (the limit row), its signals relayed by `run.ts`.
 */
import SimplePeer from 'simple-peer/simplepeer.min.js';
import { openBrowser, type BrowserPeerKV, type TraceView } from 'peerkv/browser';
import type { RoundFigures, SystemId } from './report.ts';
import { percentile } from './report.ts';
import { dexieSystem, idbSystem, peerkvFace, peerkvSystem, rxdbSystem, yjsSystem, type Opener } from './systems.ts';
import { freshRound, runWorkload, tracedWrites, type WorkloadConfig } from './workload.ts';
import type { TraceRound } from './trace-report.ts';

/** The systems a fresh round can open in this page (the 3-browser row is `net*`). */
const OPENERS: Record<Exclude<SystemId, 'peerkv-webrtc3'>, Opener> = {
  'idb-strict': idbSystem('strict'),
  'idb-relaxed': idbSystem('relaxed'),
  dexie: dexieSystem(),
  'dexie-strict': dexieSystem('strict'),
  rxdb: rxdbSystem,
  yjs: yjsSystem,
  // The defaults a page gets from `openBrowser()`: mvcc, strict writes, no signaling (so no bootstrap probe).
  'peerkv-one': peerkvSystem({}),
  'peerkv-embedded3': peerkvSystem({ embedded: true }),
};

const enc = new TextEncoder();
let net: { kv: BrowserPeerKV; cluster: string } | undefined;
let rawPeer: SimplePeer.Instance | undefined;
const rawSignals: unknown[] = [];
let rawConnected = false;
let onPong: () => void = () => {};

const bench = {
  /** One round of system `id` on a fresh database `name`. */
  runFresh(id: Exclude<SystemId, 'peerkv-webrtc3'>, name: string, cfg: WorkloadConfig): Promise<RoundFigures> {
    return freshRound(OPENERS[id], name, cfg);
  },
  /**
   * Opens this profile's networked store of `cluster` (mvcc, strict) through `signaling` and
   * waits until it serves a write; resolves with that time and how it opened.
   */
  async netOpen(cluster: string, signaling: string, secret: string, probeMs: number): Promise<{ ms: number; opened: string; storeId: number }> {
    const t0 = performance.now();
    const kv = await openBrowser({ cluster, signaling: [signaling], secret, bootstrapProbeMs: probeMs, iceServers: [] });
    net = { kv, cluster };
    await kv.put(enc.encode(`hello/${location.search}`), enc.encode('x'));
    const ms = performance.now() - t0;
    const st = await kv.status();
    return { ms, opened: st.opened, storeId: st.localStoreId ?? 0 };
  },
  /** The voters of every region replica this store holds (the cluster is formed when each has three). */
  async netVoters(): Promise<number[][]> {
    const st = await net!.kv.status();
    return (st.stores.find((s) => s.local)?.regions ?? []).map((r) => r.peers.filter((p) => p.role === 'voter').map((p) => p.storeId).sort((a, b) => a - b));
  },
  /** One round of the workloads on the networked store under key prefix `prefix`. */
  netRound(prefix: string, cfg: WorkloadConfig): Promise<Omit<RoundFigures, 'createMs' | 'reopenMs'>> {
    return runWorkload(peerkvFace(net!.kv, net!.cluster), prefix, cfg);
  },
  /** Turns this profile's networked host's latency trace on (afresh) or off; what it recorded (`--trace`). */
  netTrace(on: boolean): Promise<TraceView> {
    return net!.kv.trace(on);
  },
  /** `writes` sequential writes under `prefix` on the networked store with its trace on (`--trace`; the caller switches the other browsers). */
  netTracedWrites(prefix: string, writes: number): Promise<TraceRound> {
    return tracedWrites(peerkvFace(net!.kv, net!.cluster), prefix, writes);
  },
  /** A bare simple-peer data channel (no Transport), `iceServers: []`: host candidates on loopback. */
  startRawPeer(initiator: boolean): void {
    rawPeer = new SimplePeer({ initiator, trickle: true, config: { iceServers: [] } });
    rawPeer.on('signal', (s: unknown) => rawSignals.push(s));
    rawPeer.on('connect', () => (rawConnected = true));
    rawPeer.on('data', (d: Uint8Array) => {
      if (d[0] === 1) rawPeer!.send(Uint8Array.of(2, ...d.subarray(1)));
      else onPong();
    });
  },
  takeRawSignals: (): unknown[] => rawSignals.splice(0),
  giveRawSignal: (s: unknown): void => rawPeer?.signal(s as SimplePeer.SignalData),
  rawConnected: (): boolean => rawConnected,
  /** `rounds` sequential ping-pongs of `payloadBytes`; the p50 in ms. */
  async rawRtt(rounds: number, payloadBytes: number): Promise<number> {
    const ping = new Uint8Array(payloadBytes);
    ping[0] = 1;
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        onPong = resolve;
        rawPeer!.send(ping);
      });
      samples.push(performance.now() - t0);
    }
    return percentile(samples, 50);
  },
};

declare global {
  interface Window {
    bench: typeof bench;
  }
}
window.bench = bench;
document.getElementById('state')!.textContent = 'ready';
