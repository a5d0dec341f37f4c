/**
 * The data-key proof (rpc/data-key-proof.ts): a caller proves the data key once per link with
 * the MAC of the serving store's fresh nonce; a recorded proof, one made for another caller id,
 * one under another key, or one whose link changed while it was checked proves nothing.
 */
import { describe, expect, it } from 'vitest';
import { deriveMemberKeys } from '@peerkv/transport';
import { DataKeyGate, DataKeyProofError, isDataKeyUnproven, proveDataKey, withDataKeyProof, encodeStoreResponse, type ProvingRequester } from '../src/index.ts';

const STORE = 5;

/** A requester under `localStoreId` whose requests `gate` answers (and records). */
function toGate(gate: DataKeyGate, localStoreId: number, sent: Uint8Array[] = []): ProvingRequester {
  return {
    localStoreId,
    async request(_target, payload) {
      sent.push(payload);
      const a = await gate.answer(localStoreId, payload);
      return 'ok' in a ? a.ok : encodeStoreResponse({ type: 'failure', failure: { kind: 'Forbidden', message: a.refused } });
    },
  };
}

describe('data-key proof', () => {
  it('proves a caller once per link; a replayed, misbound or foreign-key proof proves nothing', async () => {
    const { dataProofKey } = await deriveMemberKeys('c', 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1);
    const other = await deriveMemberKeys('other', 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1);
    const gate = new DataKeyGate(dataProofKey, STORE);
    const sent: Uint8Array[] = [];
    await proveDataKey(toGate(gate, 7, sent), dataProofKey, STORE);
    expect(gate.proven(7)).toBe(true);
    expect(gate.proven(8)).toBe(false);

    // The link goes down: the proof goes with it, and its recorded bytes prove nothing again.
    gate.forget(7);
    expect(gate.proven(7)).toBe(false);
    await gate.answer(7, sent[0]); // a fresh challenge, whose nonce the recording does not hold
    expect(await gate.answer(7, sent[1])).toMatchObject({ refused: expect.stringMatching(/answers no challenge/) });
    expect(gate.proven(7)).toBe(false);

    // A MAC made for caller 7, sent by caller 8 on its own challenge's nonce: bound to the caller id.
    const as8 = toGate(gate, 8);
    const liar: ProvingRequester = { localStoreId: 7, request: (t, p, o) => as8.request(t, p, o) };
    await expect(proveDataKey(liar, dataProofKey, STORE)).rejects.toBeInstanceOf(DataKeyProofError);
    expect(gate.proven(8)).toBe(false);
    // Another cluster's data-proof key.
    await expect(proveDataKey(toGate(gate, 9), other.dataProofKey, STORE)).rejects.toBeInstanceOf(DataKeyProofError);
    expect(gate.proven(9)).toBe(false);
  });

  it('a proof whose link changed while it was checked is not counted', async () => {
    const { dataProofKey } = await deriveMemberKeys('c', 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1);
    const gate = new DataKeyGate(dataProofKey, STORE);
    const base = toGate(gate, 7);
    let step = 0;
    const racing: ProvingRequester = {
      localStoreId: 7,
      request: (t, p, o) => {
        const answer = base.request(t, p, o);
        // The proof is being checked (an await inside the gate): the link is replaced meanwhile.
        if (step++ === 1) gate.forget(7);
        return answer;
      },
    };
    await expect(proveDataKey(racing, dataProofKey, STORE)).rejects.toThrow(/changed during its data-key proof/);
    expect(gate.proven(7)).toBe(false);
  });

  it('withDataKeyProof proves on a DataKeyUnproven answer and asks once more', async () => {
    const { dataProofKey } = await deriveMemberKeys('c', 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1);
    const gate = new DataKeyGate(dataProofKey, STORE);
    const unproven = encodeStoreResponse({ type: 'failure', failure: { kind: 'DataKeyUnproven', message: 'prove it' } });
    expect(isDataKeyUnproven(unproven)).toBe(true);
    expect(isDataKeyUnproven(encodeStoreResponse({ type: 'failure', failure: { kind: 'Forbidden', message: 'no' } }))).toBe(false);
    const served = new Uint8Array([42]);
    let asked = 0;
    const raw = toGate(gate, 7);
    const store: ProvingRequester & { extra: () => string } = {
      localStoreId: 7,
      extra: () => 'kept',
      async request(t, p, o) {
        if (p[0] !== 1) return raw.request(t, p, o); // a proof message
        asked++;
        return gate.proven(7) ? served : unproven;
      },
    };
    const proving = withDataKeyProof(store, dataProofKey);
    expect(proving.extra()).toBe('kept');
    expect(await proving.request(STORE, new Uint8Array([1]))).toEqual(served);
    expect(asked).toBe(2);
    expect(await proving.request(STORE, new Uint8Array([1]))).toEqual(served);
    expect(asked).toBe(3);
  });
});
