/**
 * `HostWorker`: the host tab's side of its dedicated Worker. It starts the Worker, opens the
 * profile's store in it (failing fast if the Worker does not load), runs the page side of the
 * Worker's WebRTC peers (`servePeers`: Workers have no `RTCPeerConnection`), asks the browser
 * to keep the profile's storage (without waiting for its answer), and serves requests until it
 * is terminated, after which every call in flight or new ends with `Closed`.
 */
import * as Comlink from 'comlink';
import { servePeers } from '@peerkv/transport';
import { BrowserKvError, tabRequest, type BrowserStatus, type ClusterStatus, type Persistence, type Reply, type TabRequest } from './protocol.ts';
import type { WorkerApi, WorkerOpenOptions } from './worker-api.ts';

/** Time `retire` allows beyond its grace for the Worker's answer, ms. */
const RETIRE_SLACK_MS = 100;

/** Stops the page side of the Worker's peers. */
type PeerServer = { close(): void };

/** The host page's own part of `status()`. */
export interface HostView {
  hostTabId: string;
  draining: boolean;
  hostChanges: number;
  takeoverMs: number;
}

/** Starts the store Worker (it loads its code and waits for `open`). */
export function defaultWorker(): Worker {
  return new Worker(new URL('./store-worker.ts', import.meta.url), { type: 'module', name: 'peerkv-store' });
}

/** The Worker of the host tab; see the module header. */
export class HostWorker {
  private resolveClosed!: (r: Reply) => void;
  private readonly closed = new Promise<Reply>((r) => (this.resolveClosed = r));

  /**
   * `navigator.storage.persist()`'s answer so far. Nothing waits for it: Firefox asks the user
   * and answers only once they decide (never, in a headless or unattended browser), while
   * Chromium answers at once.
   */
  persisted: Persistence = 'pending';

  private constructor(
    private readonly worker: Worker,
    private readonly remote: Comlink.Remote<WorkerApi>,
    private readonly peers: PeerServer | undefined,
  ) {}

  /**
   * Opens the cluster in `worker` (freshly started, or a standby that has loaded its code and
   * opened nothing yet); throws `BrowserKvError` if the Worker or the cluster fails.
   */
  static async open(o: WorkerOpenOptions, worker: Worker): Promise<HostWorker> {
    const remote = Comlink.wrap<WorkerApi>(worker);
    // A Worker that fails to load never answers: its error event ends the wait.
    const loadFailed = new Promise<Reply>((resolve) =>
      worker.addEventListener('error', (ev) => resolve({ ok: false, error: { kind: 'Internal', message: `the store Worker failed: ${ev.message}` } }), { once: true }),
    );
    // The networked store's WebRTC peers live here; their events reach the Worker over a port.
    let peers: PeerServer | undefined;
    let opening: Promise<Reply>;
    if (o.mode === 'net' && typeof globalThis.RTCPeerConnection === 'function' && o.signaling.length > 0) {
      const { port1, port2 } = new MessageChannel();
      peers = servePeers(port1);
      opening = remote.open(o, Comlink.transfer(port2, [port2]));
    } else {
      opening = remote.open(o);
    }
    const opened = await Promise.race([opening, loadFailed]);
    if (!opened.ok) {
      peers?.close();
      worker.terminate();
      throw new BrowserKvError(opened.error.kind, `the store did not open: ${opened.error.message}`);
    }
    const host = new HostWorker(worker, remote, peers);
    void requestPersistence().then((answer) => (host.persisted = answer));
    return host;
  }

  /** Marks the store draining (hidden or leaving page) or serving again; best effort. */
  setDraining(draining: boolean): void {
    void Promise.race([this.remote.setDraining(draining), this.closed]).catch(() => undefined);
  }

  /** Serves one request (status gets the host's view and the profile's storage estimate). */
  call(req: TabRequest, view: () => HostView): Promise<Reply> {
    // From another tab, `req` may be anything: the Worker's ledger refuses what is not a request.
    const r = req as Partial<TabRequest> | null | undefined;
    if (r?.kind === 'tab' && (r.request as Partial<TabRequest['request']> | null | undefined)?.type === 'status') return this.status(view);
    return Promise.race([this.remote.call(req), this.closed]);
  }

  private async status(view: () => HostView): Promise<Reply> {
    const r = await Promise.race([this.remote.call(tabRequest({ type: 'status' })), this.closed]);
    if (!r.ok) return r;
    const storage = await Promise.race([this.remote.estimate(), this.closed.then(() => undefined)]);
    const s: BrowserStatus = { ...(r.value as ClusterStatus), ...view(), isHost: true, persisted: this.persisted, storage };
    return { ok: true, value: s };
  }

  /**
   * Leaves: the store hands its leaderships to other stores (waiting up to `graceMs`), then
   * the Worker ends. An unloading page may end sooner; the process exit ends the Worker then.
   */
  async retire(graceMs: number): Promise<void> {
    const timeout = new Promise<void>((r) => setTimeout(r, graceMs + RETIRE_SLACK_MS));
    await Promise.race([this.remote.setDraining(true, graceMs).catch(() => 0), this.closed, timeout]);
    this.terminate();
  }

  /** Ends the Worker at once (no two Workers may drive the same stores); pending calls end `Closed`. */
  terminate(): void {
    this.worker.terminate();
    this.peers?.close();
    this.resolveClosed({ ok: false, error: { kind: 'Closed', message: 'the host left' } });
  }
}

/** Asks the browser to keep the profile's storage; `unsupported` where it cannot be asked, false if the call fails. */
async function requestPersistence(): Promise<Exclude<Persistence, 'pending'>> {
  const s = globalThis.navigator?.storage;
  if (!s?.persist) return 'unsupported';
  try {
    return await s.persist();
  } catch {
    return false;
  }
}
