/**
 * The at-most-once table (dedup.ts): completion records, acknowledgement floors, leases and
 * expired-client markers, bounds, and a reload (from disk or a snapshot) that behaves exactly
 * like the table that never restarted.
 */
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { CLIENT_LEASE_MS, DEDUP_CLIENTS_MAX, DEDUP_RECORDS_PER_CLIENT_MAX, DedupTable, EXPIRED_CLIENTS_MAX, readDedupBody, writeDedupBody } from '../src/dedup.ts';

describe('DedupTable', () => {
  it('answers applied only for seqs it applied; a seq below the floor is stale, never applied', () => {
    const t = new DedupTable();
    expect(t.check('c', 1, 0).kind).toBe('new');
    t.record('c', 2, 1, 0);
    expect(t.check('c', 2, 0).kind).toBe('applied');
    expect(t.check('c', 1, 0).kind).toBe('new'); // seq 1 is still the client's to send
    t.record('c', 1, 1, 0);
    t.record('c', 5, 3, 0); // the client finished 1 and 2
    expect(t.check('c', 1, 0).kind).toBe('stale');
    expect(t.check('c', 2, 0).kind).toBe('stale');
    expect(t.check('c', 3, 0).kind).toBe('new');
    expect(t.check('c', 5, 0).kind).toBe('applied');
    expect(t.entry('c')!.applied).toEqual([5]);
  });

  it('refuses a client past its record limit until it acknowledges', () => {
    const t = new DedupTable();
    for (let s = 2; s < 2 + DEDUP_RECORDS_PER_CLIENT_MAX; s++) t.record('c', s, 1, 0);
    expect(t.check('c', 1, 0).kind).toBe('full');
    t.acknowledge('c', 1000);
    expect(t.check('c', 1, 0).kind).toBe('stale');
    expect(t.check('c', 5000, 0).kind).toBe('new');
  });

  it('expires an idle client after its lease (in log time) and refuses its writes by name', () => {
    const t = new DedupTable();
    t.record('old', 1, 1, 1_000);
    t.record('young', 1, 1, 1_000 + CLIENT_LEASE_MS);
    expect(t.check('old', 2, 2_000 + CLIENT_LEASE_MS).kind).toBe('stale');
    const touched = t.expireIdle(2_000 + CLIENT_LEASE_MS);
    expect(touched).toEqual(['old']);
    expect(t.entry('old')).toMatchObject({ expired: true });
    expect(t.check('old', 1, 0).kind).toBe('stale');
    expect(t.check('young', 2, 2_000 + CLIENT_LEASE_MS).kind).toBe('new');
  });

  it('stays bounded in clients and expired markers', () => {
    const t = new DedupTable();
    const n = DEDUP_CLIENTS_MAX + EXPIRED_CLIENTS_MAX + 10;
    for (let i = 0; i < n; i++) t.record(`c${i}`, 1, 1, i);
    const entries = t.entries();
    expect(entries.filter((e) => !e.expired).length).toBe(DEDUP_CLIENTS_MAX);
    expect(entries.filter((e) => e.expired).length).toBe(EXPIRED_CLIENTS_MAX);
    // The oldest clients are forgotten entirely; the next oldest are refused as expired.
    expect(t.entry('c0')).toBeUndefined();
    expect(t.check(`c${n - DEDUP_CLIENTS_MAX - 1}`, 2, n).kind).toBe('stale');
  });

  it('a reloaded table (records encoded and decoded) decides exactly as the one that never restarted', () => {
    const live = new DedupTable();
    let now = 0;
    // Skewed leader clocks: stamps go back and forth.
    const stamps = [5, 3, 9, 2, 12, 7, 20, 15];
    for (let i = 0; i < 200; i++) live.record(`c${i % 13}`, i + 1, i - 5, (now += stamps[i % stamps.length]));
    const reloaded = DedupTable.from(
      live.entries().map((e) => {
        const w = new ByteWriter();
        writeDedupBody(w, e);
        return readDedupBody(new ByteReader(w.finish()), e.clientId);
      }),
    );
    expect(reloaded.entries()).toEqual(live.entries());
    for (let i = 200; i < 400; i++) {
      const id = `c${(i * 7) % 17}`;
      expect(reloaded.check(id, i, now)).toEqual(live.check(id, i, now));
      now += CLIENT_LEASE_MS / 50;
      expect(reloaded.record(id, i, i - 3, now)).toEqual(live.record(id, i, i - 3, now));
    }
    expect(reloaded.entries()).toEqual(live.entries());
  });
});
