/**
 * `getTimestamp` from a tab in the networked browser runtime (`NetHost` in Node): the host's
 * client asks PD through `RemotePdService`, many tab calls at once share a few PD requests'
 * worth of answers, and every answer is a distinct, increasing bigint.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NetHost } from '../src/browser/index.ts';
import type { RemotePdService } from '../src/remote/remote-pd-service.ts';
import { deps, hostOptions } from './net-host-fixture.ts';

const hosts: NetHost[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});

describe('getTimestamp in the networked browser runtime', () => {
  it('answers tabs with distinct, increasing timestamps from PD', async () => {
    const cluster = `tso-${Math.random().toString(36).slice(2)}`;
    const h = await NetHost.open(hostOptions('tso-secret', cluster, 'solo', { bootstrapProbeMs: 100 }), deps);
    hosts.push(h);
    const one = await h.call({ kind: 'kv', request: { type: 'getTimestamp' } });
    expect(one.ok).toBe(true);
    const first = (one as { value: bigint }).value;
    expect(typeof first).toBe('bigint');
    expect(Number(first >> 18n)).toBeGreaterThan(Date.now() - 60_000);
    const asked = countPdTimestampRequests(h);
    const replies = await Promise.all(Array.from({ length: 50 }, () => h.call({ kind: 'kv', request: { type: 'getTimestamp' } })));
    const values = replies.map((r) => (r.ok ? (r.value as bigint) : -1n));
    expect(values.every((v) => v > first)).toBe(true);
    expect(new Set(values).size).toBe(50);
    // Batched: the 50 calls cost a few PD requests (2 when written: the first call, then the
    // other 49 together), which asked for at least 50 timestamps in all.
    expect(asked.requests).toBeGreaterThan(0);
    expect(asked.requests).toBeLessThanOrEqual(5);
    expect(asked.timestamps).toBeGreaterThanOrEqual(50);
    const later = await h.call({ kind: 'kv', request: { type: 'getTimestamp' } });
    expect((later as { value: bigint }).value > values.reduce((m, v) => (v > m ? v : m), 0n)).toBe(true);
  }, 30_000);
});

/** Counts, from now on, the host client's TSO requests to PD and the timestamps they ask for (a test reaches into the host). */
function countPdTimestampRequests(h: NetHost): { requests: number; timestamps: number } {
  const pd = (h as unknown as { running: { pd: RemotePdService } }).running.pd;
  const asked = { requests: 0, timestamps: 0 };
  const getTimestamps = pd.getTimestamps.bind(pd);
  pd.getTimestamps = (count, o) => {
    asked.requests++;
    asked.timestamps += count;
    return getTimestamps(count, o);
  };
  return asked;
}
