import { describe, expect, it } from 'vitest';
import { KvStateMachine } from '../src/kv.ts';
import type { ClientRequest } from '../src/messages.ts';
import { PendingRequests } from '../src/pending-requests.ts';

const req = (clientId: number, seq: number, kind: ClientRequest['kind'] = 'put'): ClientRequest => ({
  opId: clientId * 100 + seq,
  attempt: 1,
  clientId,
  seq,
  kind,
  key: 'k',
  value: 'v',
});

describe('PendingRequests', () => {
  it('hands back writes by (clientId, seq), and undoes a refused one', () => {
    const p = new PendingRequests(10);
    p.addWrite(req(1, 1));
    p.addWrite(req(1, 1));
    const undo = p.addWrite(req(2, 1));
    undo();
    expect(p.takeWrites(1, 1)).toHaveLength(2);
    expect(p.takeWrites(1, 1)).toHaveLength(0);
    expect(p.takeWrites(2, 1)).toHaveLength(0);
  });

  it('serves reads only once their index is known and applied', () => {
    const p = new PendingRequests(10);
    p.addRead('a', req(1, 1, 'get'));
    p.addRead('b', req(2, 1, 'get'));
    expect(p.takeServableReads(100)).toEqual([]);
    p.onReadState('a', 5);
    p.onReadState('b', 7);
    expect(p.takeServableReads(6).map((r) => r.clientId)).toEqual([1]);
    p.dropRead('b');
    expect(p.takeServableReads(100)).toEqual([]);
  });

  it('after a snapshot answers writes it remembers and drops older ones', () => {
    const kv = new KvStateMachine();
    kv.apply({ kind: 'put', clientId: 1, seq: 2, key: 'k', value: 'v' });
    const p = new PendingRequests(10);
    p.addWrite(req(1, 1));
    p.addWrite(req(1, 2));
    p.addWrite(req(1, 3));
    expect(p.takeAppliedWrites(kv).map((r) => r.seq)).toEqual([2]);
    expect(p.takeWrites(1, 1)).toEqual([]);
    expect(p.takeWrites(1, 3)).toHaveLength(1);
  });

  it('is bounded and forgets everything on clear', () => {
    const p = new PendingRequests(2);
    p.addWrite(req(1, 1));
    p.addRead('a', req(2, 1, 'get'));
    expect(p.full).toBe(true);
    p.clear();
    expect(p.full).toBe(false);
  });
});
