/**
 * What a tab sends a host is checked before it runs: an unknown op or a field of the wrong
 * type comes back as an `InvalidArgument` reply (never a crash, never a silent success), and
 * every well-formed request still runs.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEngine } from '@peerkv/storage';
import { codec } from '../src/index.ts';
import { BrowserKvError, EmbeddedCluster, checkKvRequest, unwrapReply, type KvRequest, type Reply } from '../src/browser/index.ts';

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
      const r: Reply = await c!.call(req as KvRequest);
      return r.ok ? 'ok' : r.error.kind;
    };
    expect(await kindOf({ op: 'drop' })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'hasOwnProperty' })).toBe('InvalidArgument');
    expect(await kindOf(null)).toBe('InvalidArgument');
    expect(await kindOf({ op: 'get', key: 'k' })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'get', key: t('k'), consistency: 'eventually' })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'put', key: t('k'), value: 42 })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'put', key: t('k'), value: t('v'), stamp: { clientId: 'tab', seq: 'one' } })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'batchPut', pairs: [{ key: t('k') }] })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'batchGet', keys: t('k') })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'scan', reverse: 'yes' })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'partition', storeIds: ['1'] })).toBe('InvalidArgument');
    // A tab's forwarded txn request is one about locks, never a prewrite or a commit; a lock
    // mutation belongs to a pessimistic commit (it needs forUpdateTs).
    expect(await kindOf({ op: 'txnRegionRequest', locate: t('k'), request: { type: 'txnCommit', keys: [t('k')], startTs: 1n, commitTs: 2n } })).toBe('InvalidArgument');
    expect(await kindOf({ op: 'commitTxn', startTs: 5n, mutations: [{ op: 'lock', key: t('k') }] })).toBe('InvalidArgument');
    // Well formed, they run.
    expect(await kindOf({ op: 'put', key: t('k'), value: t('v') })).toBe('ok');
    expect(unwrapReply<Uint8Array>(await c.call({ op: 'get', key: t('k') }))).toEqual(t('v'));
    expect(await kindOf({ op: 'scan', start: t('a'), limit: 10 })).toBe('ok');
    const counted = (await c.call({ op: 'status' })) as { ok: true; value: { requests: { failed: number } } };
    expect(counted.value.requests.failed).toBe(13);
  });

  it('throws nothing but BrowserKvError(InvalidArgument) for any value', () => {
    const ops = ['get', 'batchGet', 'put', 'delete', 'batchPut', 'batchDelete', 'deleteRange', 'scan', 'status', 'partition', 'slowDisk', 'splitRegion', 'txnRegionRequest', 'txnRoute', 'commitTxn'];
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ op: fc.constantFrom(...ops), key: fc.anything(), keys: fc.anything(), value: fc.anything(), stamp: fc.anything() }, { requiredKeys: ['op'] })), (q) => {
        try {
          checkKvRequest(q);
        } catch (e) {
          expect(e instanceof BrowserKvError && e.kind).toBe('InvalidArgument');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
