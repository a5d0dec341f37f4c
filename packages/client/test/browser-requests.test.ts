/**
 * What a tab sends a host is checked before it runs: an unknown table (`kind`), an unknown
 * request type or a field of the wrong type comes back as an `InvalidArgument` reply (never a crash, never a silent success), and
 * every well-formed request still runs.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { codec } from '../src/index.ts';
import { BrowserKvError, EmbeddedCluster, checkTabRequest, unwrapReply, type TabRequest, type Reply } from '../src/browser/index.ts';

const t = codec.text;

describe('requests from a tab', () => {
  let c: EmbeddedCluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  it('refuses an unknown op and wrong field types with InvalidArgument', async () => {
    c = await EmbeddedCluster.open({
      cluster: 'checks',
      testHooks: true,
      store: { tickIntervalMs: 10 },
      requestTimeoutMs: 500,
      openEngine: (_name, cfs) => MemoryEngine.open({ columnFamilies: cfs }),
    });
    const kindOf = async (req: unknown): Promise<string> => {
      const r: Reply = await c!.call(req as TabRequest);
      return r.ok ? 'ok' : r.error.kind;
    };
    expect(await kindOf({ kind: 'kv', request: { type: 'drop' } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'hasOwnProperty' } })).toBe('InvalidArgument');
    expect(await kindOf(null)).toBe('InvalidArgument');
    // The routed wrapper: an unknown table, no request, a type of another table, the flat shape.
    expect(await kindOf({ kind: 'hasOwnProperty', request: { type: 'get', key: t('k') } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv' })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: null })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'status' } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'tab', request: { type: 'get', key: t('k') } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'hook', request: { type: 'put', key: t('k'), value: t('v') } })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'get', key: t('k') })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'get', key: 'k' } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'get', key: t('k'), consistency: 'eventually' } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'put', key: t('k'), value: 42 } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('v'), stamp: { clientId: 'tab', seq: 'one' } } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'batchPut', pairs: [{ key: t('k') }] } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'batchGet', keys: t('k') } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'scan', reverse: 'yes' } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'hook', request: { type: 'partition', storeIds: ['1'] } })).toBe('InvalidArgument');
    // A tab's forwarded txn request is one about locks, never a prewrite or a commit; a lock
    // mutation belongs to a pessimistic commit (it needs forUpdateTs).
    expect(await kindOf({ kind: 'kv', request: { type: 'txnRegionRequest', locate: t('k'), request: { type: 'txnCommit', keys: [t('k')], startTs: 1n, commitTs: 2n } } })).toBe('InvalidArgument');
    expect(await kindOf({ kind: 'kv', request: { type: 'commitTxn', startTs: 5n, mutations: [{ op: 'lock', key: t('k') }] } })).toBe('InvalidArgument');
    // Well formed, they run.
    expect(await kindOf({ kind: 'kv', request: { type: 'put', key: t('k'), value: t('v') } })).toBe('ok');
    expect(unwrapReply<Uint8Array>(await c.call({ kind: 'kv', request: { type: 'get', key: t('k') } }))).toEqual(t('v'));
    expect(await kindOf({ kind: 'kv', request: { type: 'scan', start: t('a'), limit: 10 } })).toBe('ok');
    const counted = (await c.call({ kind: 'tab', request: { type: 'status' } })) as { ok: true; value: { requests: { failed: number } } };
    expect(counted.value.requests.failed).toBe(20);
  });

  it('throws nothing but BrowserKvError(InvalidArgument) for any value', () => {
    const types = ['get', 'batchGet', 'put', 'delete', 'batchPut', 'batchDelete', 'deleteRange', 'scan', 'status', 'watchOpen', 'watchNext', 'partition', 'slowDisk', 'splitRegion', 'txnRegionRequest', 'txnRoute', 'commitTxn'];
    const request = fc.oneof(fc.anything(), fc.record({ type: fc.constantFrom(...types), key: fc.anything(), keys: fc.anything(), value: fc.anything(), stamp: fc.anything(), watchId: fc.anything() }, { requiredKeys: ['type'] }));
    const routed = fc.record({ kind: fc.oneof(fc.constantFrom('kv', 'tab', 'hook'), fc.anything()), request }, { requiredKeys: ['kind'] });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), routed), (q) => {
        try {
          checkTabRequest(q);
        } catch (e) {
          expect(e instanceof BrowserKvError && e.kind).toBe('InvalidArgument');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
