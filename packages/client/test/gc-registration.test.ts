/**
 * `GcRegistration` against a fake PD on a manual clock: the oldest live hold is registered and
 * refreshed every third of the granted TTL while holds live; with none left the refreshes stop
 * (the registration lapses); a failed attempt backs off; `SafePointPassed` fails the holds below
 * PD's safe point and registers the next-oldest; `close()` removes the registration.
 */
import { describe, expect, it } from 'vitest';
import type { GcRegisterResult } from '@peerkv/pd';
import { ManualTimers } from '@peerkv/transport';
import { GcRegistration, PeerKVError } from '../src/index.ts';

/** `ManualTimers` advanced in 10 ms steps, letting the registration's promises settle between them. */
class ManualClock extends ManualTimers {
  async step(ms: number): Promise<void> {
    for (let done = 0; done < ms; done += 10) {
      this.advance(10);
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
  }
}

class FakePd {
  calls: { id: string; ts: bigint; ttl: number }[] = [];
  removed: string[] = [];
  safePoint = 0n;
  down = false;
  async registerGcService(id: string, ts: bigint, ttl: number): Promise<GcRegisterResult> {
    this.calls.push({ id, ts, ttl });
    if (this.down) throw new PeerKVError('Unavailable', 'down');
    if (ts < this.safePoint) return { kind: 'error', error: { kind: 'SafePointPassed', gcSafePoint: this.safePoint } };
    return { kind: 'ok', gcSafePoint: this.safePoint, ttlMs: Math.min(ttl, 3000) };
  }
  async removeGcService(id: string): Promise<void> {
    this.removed.push(id);
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('GcRegistration', () => {
  it('registers the oldest live hold, refreshes while holds live, lapses without them, removes on close', async () => {
    const clock = new ManualClock();
    const pd = new FakePd();
    const g = new GcRegistration(pd, 'c1', clock, () => 0.5);
    const a = g.hold(100n);
    a.pin();
    await flush();
    expect(pd.calls).toEqual([{ id: 'c1', ts: 100n, ttl: 30_000 }]);
    // A younger hold is covered by the live registration: no request.
    const b = g.hold(200n);
    await flush();
    expect(pd.calls.length).toBe(1);
    await clock.step(1000); // a third of the 3 s granted
    expect(pd.calls.map((c) => c.ts)).toEqual([100n, 100n]);
    a.release();
    await clock.step(1000);
    expect(pd.calls.at(-1)!.ts).toBe(200n);
    b.release();
    const n = pd.calls.length;
    await clock.step(10_000);
    expect(pd.calls.length).toBe(n); // nothing live: no refresh, the registration lapses
    await g.close();
    expect(pd.removed).toEqual(['c1']);
  });

  it('backs off while PD is unreachable; a safe point past the oldest hold fails it and registers the next', async () => {
    const clock = new ManualClock();
    const pd = new FakePd();
    pd.down = true;
    const g = new GcRegistration(pd, 'c2', clock, () => 0.5);
    const old = g.hold(100n);
    old.pin();
    const young = g.hold(500n);
    young.pin();
    await flush();
    await clock.step(2000);
    const attempts = pd.calls.length;
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(20);
    pd.down = false;
    pd.safePoint = 300n;
    await clock.step(6000);
    // 100 is below 300: refused, failed; 500 is registered instead.
    expect(pd.calls.some((c) => c.ts === 500n)).toBe(true);
    expect(() => old.check()).toThrow(expect.objectContaining({ kind: 'SafePointPassed' }));
    expect(() => young.check()).not.toThrow();
    await expect(g.ensureCovered(100n)).rejects.toMatchObject({ kind: 'SafePointPassed' });
    await expect(g.ensureCovered(600n)).resolves.toBeUndefined();
    await g.close();
  });
});
