/**
 * What the browser runtime's tests in Node share: a FIFO Web Locks stand-in, engines on memory
 * disks that outlive a "Worker" (as IndexedDB outlives one), and a "Worker" that is comlink
 * over a MessageChannel around a worker API.
 */
import * as Comlink from 'comlink';
import { MemoryDisk, MemoryEngine } from '@peerkv/storage';
import { createWorkerApi, type ElectionLocks } from '../src/browser/index.ts';

/** A FIFO exclusive lock manager (the Web Locks subset the runtime uses). */
export class FakeLocks implements ElectionLocks {
  private held = new Set<string>();
  private queue = new Map<string, (() => void)[]>();

  request(name: string, opts: { signal?: AbortSignal }, cb: () => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = (): void => {
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

/** A worker API whose engines live on `disks` (reopening a name is a restart on the same storage). */
export function memoryWorkerApi(disks: Map<string, MemoryDisk>): ReturnType<typeof createWorkerApi> {
  return createWorkerApi(async (name, cfs) => {
    if (!disks.has(name)) disks.set(name, new MemoryDisk());
    return MemoryEngine.open({ columnFamilies: cfs, disk: disks.get(name) });
  });
}

/** A "Worker" serving `api`: comlink over a MessageChannel; terminate() drops it like a killed Worker. */
export function portWorker(api: ReturnType<typeof createWorkerApi>): Worker {
  const { port1, port2 } = new MessageChannel();
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

/**
 * Tabs of one test file over "Workers" on shared memory disks: `fakeWorker` makes such a
 * Worker, `tabs` collects the tabs to close; after each test they close and the disks go.
 */
export function memoryTabs<Tab extends { close(): void }>(afterEach: (fn: () => void) => void): { fakeWorker: () => Worker; tabs: Tab[] } {
  const disks = new Map<string, MemoryDisk>();
  const tabs: Tab[] = [];
  afterEach(() => {
    for (const tab of tabs.splice(0)) tab.close();
    disks.clear();
  });
  return { fakeWorker: () => portWorker(memoryWorkerApi(disks)), tabs };
}
