/**
 * The data-key proof (rpc/data-key-proof.ts): a caller proves the data key once per link with
 * the MAC of the serving store's fresh nonce; a recorded proof, one made for another caller id,
 * one under another key, or one whose link changed while it was checked proves nothing.
 */
import { describe, expect, it } from 'vitest';
import { deriveMemberKeys } from '@peerkv/transport';
import { DATA_KEY_ASK_INTERVAL_MS_MIN, DataKeyGate, DataKeyProofError, TEMP_STORE_ID_MIN, isDataKeyUnproven, proveDataKey, withDataKeyProof, encodeStoreResponse, type ProvingRequester } from '../src/index.ts';

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

  it('a store proves the data key to a leader that asks (receiverProven); a witness, a stale link or a temporary id never does', async () => {
    const { dataProofKey } = await deriveMemberKeys('c', 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1);
    const other = await deriveMemberKeys('other', 'pk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 1);
    let nowMs = 0;
    const leader = new DataKeyGate(dataProofKey, STORE, undefined, () => nowMs);
    const member = new DataKeyGate(dataProofKey, 7);
    const foreign = new DataKeyGate(other.dataProofKey, 8);
    const sent: Uint8Array[] = [];
    // Store 9 holds no gate (a witness credential): it answers a proof message as a bad request.
    const byId = new Map<number, DataKeyGate>([[7, member], [8, foreign]]);
    leader.attach({
      localStoreId: STORE,
      async request(target, payload) {
        sent.push(payload);
        const g = byId.get(target);
        if (!g) return encodeStoreResponse({ type: 'failure', failure: { kind: 'BadRequest', message: 'unknown request tag 97' } });
        const a = await g.answer(STORE, payload);
        return 'ok' in a ? a.ok : encodeStoreResponse({ type: 'failure', failure: { kind: 'Forbidden', message: a.refused } });
      },
    });
    const settle = () => new Promise((r) => setTimeout(r, 20));
    // Not proven at first: the ask starts, and the next look finds it proven.
    expect(leader.receiverProven(7)).toBe(false);
    await settle();
    expect(leader.receiverProven(7)).toBe(true);
    // A gate under another cluster's key, and a store with no gate: never proven.
    for (const id of [8, 9]) {
      expect(leader.receiverProven(id)).toBe(false);
      await settle();
      expect(leader.receiverProven(id)).toBe(false);
    }
    // A failed ask is not repeated within DATA_KEY_ASK_INTERVAL_MS_MIN.
    const asks = sent.length;
    await settle();
    expect(sent.length).toBe(asks);
    nowMs += DATA_KEY_ASK_INTERVAL_MS_MIN;
    leader.receiverProven(9);
    await settle();
    expect(sent.length).toBe(asks + 1);
    // The link to 7 goes down: what it proved goes with it.
    leader.forget(7);
    byId.delete(7);
    expect(leader.receiverProven(7)).toBe(false);
    await settle();
    expect(leader.receiverProven(7)).toBe(false);

    // An ask's answer is bound to its own label: replayed as a caller's proof, it proves nothing.
    const askAnswer = await member.answer(STORE, sent[0]);
    const challenge = await leader.answer(7, new Uint8Array([97, 1, 0]));
    if (!('ok' in askAnswer) || !('ok' in challenge)) throw new Error('expected answers');
    const nonce = challenge.ok.slice(4);
    const mac = (await member.answer(STORE, new Uint8Array([97, 1, 2, 32, ...nonce]))) as { ok: Uint8Array };
    const replayed = new Uint8Array([97, 1, 1, 32, ...nonce, 32, ...mac.ok.slice(4)]);
    expect(await leader.answer(7, replayed)).toMatchObject({ refused: expect.stringMatching(/does not verify/) });
    expect(leader.proven(7)).toBe(false);
    // Only stores ask each other: a temporary id is refused, and is never asked.
    const temp = TEMP_STORE_ID_MIN + 5;
    expect(await member.answer(temp, sent[0])).toMatchObject({ refused: expect.stringMatching(/temporary id/) });
    const before = sent.length;
    expect(leader.receiverProven(temp)).toBe(false);
    await settle();
    expect(sent.length).toBe(before);
  });
});
