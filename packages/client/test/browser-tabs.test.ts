/**
 * The tab layer of the browser runtime in Node: several `BrowserPeerKV` handles share one
 * BroadcastChannel, elect a host through an in-memory lock manager, and reach the host's
 * "Worker" (a comlink MessageChannel around a memory-engine cluster whose disks outlive it).
 * The host leaves with requests in flight; the next tab reopens the stores and serves them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as Comlink from 'comlink';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { codec } from '../src/index.ts';
import { BrowserKvError, BrowserPeerKV, createWorkerApi, type ElectionLocks, type OpenBrowserOptions } from '../src/browser/index.ts';

const t = codec.text;
const s = (v: Uint8Array | undefined) => (v ? codec.fromText(v) : undefined);

/** A FIFO exclusive lock manager (the Web Locks subset the election uses). */
class FakeLocks implements ElectionLocks {
  private held = new Set<string>();
  private queue = new Map<string, (() => void)[]>();

  request(name: string, opts: { signal?: AbortSignal }, cb: () => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        this.held.add(name);
        void cb()
          .then(resolve, reject)
          .finally(() => this.release(name));
      };
      if (!this.held.has(name)) return grant();
      const q = this.queue.get(name) ?? [];
      q.push(grant);
      this.queue.set(name, q);
      opts.signal?.addEventListener('abort', () => {
        const i = q.indexOf(grant);
        if (i >= 0) q.splice(i, 1);
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
  }

  private release(name: string): void {
    this.held.delete(name);
    this.queue.get(name)?.shift()?.();
  }
}

const disks = new Map<string, MemoryDisk>();
let workersStarted = 0;
let workersOpened = 0;

/** A "Worker": comlink over a MessageChannel; terminate() drops it like a killed Worker. */
function fakeWorker(): Worker {
  workersStarted++;
  const { port1, port2 } = new MessageChannel();
  const api = createWorkerApi(async (name, cfs) => {
    if (!disks.has(name)) disks.set(name, new MemoryDisk());
    return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
  });
  const open = api.open;
  api.open = (o) => {
    workersOpened++;
    return open(o);
  };
  Comlink.expose(api, port1);
  return {
    postMessage: (m: unknown, transfer?: Transferable[]) => port2.postMessage(m, transfer ?? []),
    addEventListener: (type: string, fn: EventListener) => port2.addEventListener(type as 'message', fn),
    removeEventListener: (type: string, fn: EventListener) => port2.removeEventListener(type as 'message', fn),
    start: () => port2.start(),
    terminate: () => {
      void api.close();
      port1.close();
      port2.close();
    },
  } as unknown as Worker;
}

describe('BrowserPeerKV across tabs', () => {
  const tabs: BrowserPeerKV[] = [];
  afterEach(() => {
    for (const tab of tabs.splice(0)) tab.close();
    disks.clear();
    workersStarted = 0;
    workersOpened = 0;
  });

  function open(locks: FakeLocks, cluster: string, extra: Partial<OpenBrowserOptions> = {}): BrowserPeerKV {
    const kv = new BrowserPeerKV({ cluster, locks, createWorker: fakeWorker, store: { tickIntervalMs: 10 }, hostProbeMs: 50, ...extra });
    kv.start();
    tabs.push(kv);
    return kv;
  }

  it('elects one host, serves attached tabs, and fails over with requests in flight', async () => {
    const locks = new FakeLocks();
    const [a, b, c] = [open(locks, 'failover'), open(locks, 'failover'), open(locks, 'failover')];
    await a.put(t('from-a'), t('1'));
    await b.put(t('from-b'), t('2'));
    await c.batchPut([{ key: t('from-c'), value: t('3') }]);
    const st = await c.status();
    expect(st.hostTabId).toBe(a.tabId);
    expect(st.isHost).toBe(false);
    expect(a.isHost && !b.isHost && !c.isHost).toBe(true);
    expect(st.opened).toBe('bootstrapped');

    // C's write is in flight when the host leaves; B (next in the lock queue) takes over.
    const inflight = c.put(t('during'), t('4'));
    a.close();
    await inflight;
    expect(b.isHost).toBe(true);
    const after = await c.status();
    expect(after.hostTabId).toBe(b.tabId);
    expect(after.opened).toBe('reopened');
    // Every tab started a standby Worker; only the two hosts opened the stores in theirs.
    expect(workersStarted).toBe(3);
    expect(workersOpened).toBe(2);
    const got = await c.batchGet([t('from-a'), t('from-b'), t('from-c'), t('during')]);
    expect(got.map(s)).toEqual(['1', '2', '3', '4']);
    expect((await b.scan({ start: t('from-') })).map((p) => codec.fromText(p.key))).toEqual(['from-a', 'from-b', 'from-c']);
  });

  it('tells every tab about writes and refuses hooks unless the host enabled them', async () => {
    const locks = new FakeLocks();
    const [a, b] = [open(locks, 'notify'), open(locks, 'notify')];
    const seen: string[] = [];
    b.subscribe((op) => seen.push(op));
    await a.put(t('k'), t('v'));
    await expect.poll(() => seen).toEqual(['put']);
    const err = await b.stopStore(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrowserKvError);
    expect((err as BrowserKvError).kind).toBe('HooksDisabled');
  });

  it('fails a call with Timeout when no host answers within the deadline, and Closed after close', async () => {
    const locks = new FakeLocks();
    // Someone else holds the lock and never serves.
    void locks.request('peerkv:hostless:host', {}, () => new Promise(() => {}));
    const kv = open(locks, 'hostless', { requestDeadlineMs: 200 });
    const err = await kv.get(t('x')).catch((e: unknown) => e);
    expect((err as BrowserKvError).kind).toBe('Timeout');
    kv.close();
    await expect(kv.get(t('x'))).rejects.toMatchObject({ kind: 'Closed' });
  });
});
