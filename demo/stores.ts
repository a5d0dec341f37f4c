/**
 * The demo page's PeerKV handles: the profile's main store (`openBrowser` with the demo's
 * cluster, secret and signaling server) and the stores added with "Add a store", each its own
 * `storeName`, Worker and handle, joining over BroadcastChannel. Added stores are remembered
 * in localStorage, so a reload reopens them from IndexedDB instead of leaving their replicas
 * on dead stores.
 */
import { decodeInvite, encodeInvite, generateClusterSecret, openBrowser, type BrowserPeerKV, type Invite, type OpenBrowserOptions } from 'peerkv/browser';

/**
 * The demo's cluster name (signaling topic, database names). It changed from `demo` when the
 * demo moved to the mvcc data model: a store keeps the data model it was created with, so the
 * old name's raw stores are left alone rather than refused.
 */
export const DEMO_CLUSTER = 'demo-mvcc';
/**
 * The demo's cluster secret. A constant: anyone running this demo against the same
 * signaling server joins the same cluster, which is the point of a demo (not of a real app).
 */
export const DEMO_SECRET = 'peerkv-demo-not-a-secret';
/** Signaling port `npm start` uses by default. */
export const DEMO_SIGNALING_PORT = 4444;
/** Most stores "Add a store" opens in one profile (each is a Worker). */
export const EXTRA_STORES_MAX = 4;
/** localStorage key holding how many stores this profile added. */
const EXTRA_COUNT_KEY = 'peerkv-demo:extra-stores';

/** The localStorage key of `cluster`'s added-store count (the demo cluster keeps the old key). */
function extraCountKey(cluster: string | undefined): string {
  return cluster === undefined || cluster === DEMO_CLUSTER ? EXTRA_COUNT_KEY : `${EXTRA_COUNT_KEY}:${cluster}`;
}

/** The signaling server: `?signaling=` in the page URL, else `npm start`'s, else port 4444 on this host. */
export function signalingUrl(): string {
  const fromQuery = new URLSearchParams(location.search).get('signaling');
  if (fromQuery) return fromQuery;
  const fromEnv = import.meta.env.VITE_PEERKV_SIGNALING;
  if (fromEnv) return fromEnv;
  return `ws://${location.hostname}:${DEMO_SIGNALING_PORT}`;
}

/**
 * The cluster this page joins: the one an `#invite=` link names (a private cluster with a
 * generated secret), else the public demo cluster.
 */
export function demoCluster(): Invite {
  if (location.hash.startsWith('#invite=')) {
    try {
      return decodeInvite(location.hash);
    } catch (e) {
      console.warn(`ignoring the invite in this link: ${String(e)}`);
    }
  }
  return { cluster: DEMO_CLUSTER, secret: DEMO_SECRET, signaling: [signalingUrl()] };
}

/**
 * The invite this page hands out: its cluster with the anchors its store's status names (PD's
 * voters and keys as its PD replica records them: the creator's own store at least), else the
 * ones it joined with; a version 1 invite while it knows none.
 */
export function pageInvite(joined: Invite, inviteAnchors: Invite['anchors'] | undefined): Invite {
  const anchors = inviteAnchors?.length ? inviteAnchors : joined.anchors;
  return anchors?.length ? { ...joined, anchors } : { cluster: joined.cluster, secret: joined.secret, signaling: joined.signaling };
}

/** This page's link with `invite` in its fragment (open it in another browser to join). */
export function inviteLink(invite: Invite): string {
  return `${location.origin}${location.pathname}${location.search}#invite=${encodeInvite(invite)}`;
}

/** A new private cluster: a random name and a generated secret, on this page's signaling server. */
export function newPrivateCluster(): Invite {
  const name = `private-${generateClusterSecret().slice(4, 14)}`;
  return { cluster: name, secret: generateClusterSecret(), signaling: [signalingUrl()] };
}

/** One handle of this page: the main store or an added one. */
export interface DemoHandle {
  /** `store` for the main one, `extra-<n>` for added ones. */
  storeName: string;
  kv: BrowserPeerKV;
  /** Its store's id once a status told it. */
  storeId?: number;
}

/** The page's handles; see the module header. */
export class DemoStores {
  readonly main: DemoHandle;
  readonly extras: DemoHandle[] = [];
  private readonly base: OpenBrowserOptions;

  private constructor(base: OpenBrowserOptions, main: BrowserPeerKV) {
    this.base = base;
    this.main = { storeName: main.storeName, kv: main };
  }

  /** Opens the main store and every store this profile added before. */
  static async open(): Promise<DemoStores> {
    const joined = demoCluster();
    // Every read and write of the demo is transactional (moving an item between the lists is one transaction).
    // A version 2 invite's anchors (its cluster's PD voters and keys): the store believes them
    // without asking and keeps them, so a member posing as those voters is refused.
    const base: OpenBrowserOptions = { cluster: joined.cluster, secret: joined.secret, signaling: joined.signaling, testHooks: true, dataModel: 'mvcc', ...(joined.anchors ? { anchors: joined.anchors } : {}) };
    const s = new DemoStores(base, await openBrowser(base));
    const before = Math.min(EXTRA_STORES_MAX, Number(localStorage.getItem(extraCountKey(base.cluster)) ?? 0) || 0);
    for (let i = 1; i <= before; i++) await s.openExtra(i);
    return s;
  }

  /** Every handle, the main one first. */
  all(): DemoHandle[] {
    return [this.main, ...this.extras];
  }

  /** The handle whose own store is `storeId`, if this page has one. */
  owner(storeId: number): DemoHandle | undefined {
    return this.all().find((h) => h.storeId === storeId);
  }

  /** Opens one more store in this page (a new Worker) and remembers it. */
  async add(): Promise<DemoHandle> {
    if (this.extras.length >= EXTRA_STORES_MAX) throw new Error(`at most ${EXTRA_STORES_MAX} added stores per browser`);
    const h = await this.openExtra(this.extras.length + 1);
    localStorage.setItem(extraCountKey(this.base.cluster), String(this.extras.length));
    return h;
  }

  private async openExtra(n: number): Promise<DemoHandle> {
    const storeName = `extra-${n}`;
    const h: DemoHandle = { storeName, kv: await openBrowser({ ...this.base, storeName }) };
    this.extras.push(h);
    return h;
  }
}
