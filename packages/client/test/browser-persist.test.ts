/**
 * The host asks the browser to keep the profile's storage (`navigator.storage.persist()`)
 * without waiting for the answer: Firefox answers only once the user decides, and a host that
 * waited for it never served (found running the runtime in Firefox, issue 17).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MemoryDisk } from '@peerkv/storage';
import { codec } from '../src/index.ts';
import { BrowserPeerKV } from '../src/browser/index.ts';
import { FakeLocks, memoryWorkerApi, portWorker } from './browser-fakes.ts';
import { until } from './until.ts';

const tabs: BrowserPeerKV[] = [];
afterEach(() => {
  for (const tab of tabs.splice(0)) tab.close();
  vi.unstubAllGlobals();
});

/** A `navigator` whose `storage.persist()` answers only when the test says so (as Firefox's prompt). */
function promptingNavigator(): { answer(v: boolean): void; asked: () => number } {
  let asked = 0;
  let answer: (v: boolean) => void = () => undefined;
  const persist = () => {
    asked++;
    return new Promise<boolean>((r) => (answer = r));
  };
  vi.stubGlobal('navigator', { storage: { persist, estimate: async () => ({ usage: 0, quota: 1 }) } });
  return { answer: (v) => answer(v), asked: () => asked };
}

describe('storage persistence', () => {
  it('serves while persist() is unanswered and reports the answer once it comes', async () => {
    const prompt = promptingNavigator();
    const disks = new Map<string, MemoryDisk>();
    const kv = new BrowserPeerKV({ cluster: 'persist', embedded: true, locks: new FakeLocks(), createWorker: () => portWorker(memoryWorkerApi(disks)), store: { tickIntervalMs: 10 }, hostProbeMs: 50 });
    kv.start();
    tabs.push(kv);
    await kv.put(codec.text('k'), codec.text('v'));
    expect(codec.fromText((await kv.get(codec.text('k')))!)).toBe('v');
    expect(prompt.asked()).toBe(1);
    expect((await kv.status()).persisted).toBe('pending');
    prompt.answer(true);
    await until('status reports the answer', async () => (await kv.status()).persisted === true);
  });
});
