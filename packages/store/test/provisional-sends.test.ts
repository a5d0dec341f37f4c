/**
 * A store whose provisional link the answers about its key speak against (`PeerKeyBook.isDoubted`)
 * gets no data-region Raft from this store (issue 13): `storeTransportOf` withholds those
 * messages, entries and snapshot frames alike, and counts them; PD's group's messages still go.
 * An undisputed provisional store (one joining, whose link to the only PD replica no second
 * replica can vouch for yet) and confirmed stores get everything: withholding from a joining
 * store would hold its join back.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '@peerkv/raft';
import type { RegionMessage } from '@peerkv/transport';
import { PD_REGION_ID, PeerKeyBook, storeTransportOf, type PeerKeyAnswer } from '../src/index.ts';

function append(regionId: number): RegionMessage {
  const message: Message = { type: 'MsgApp', to: 2, from: 1, term: 3, logTerm: 3, index: 7, entries: [{ term: 3, index: 8, type: 'normal', data: new Uint8Array([1]) }], commit: 7, reject: false, rejectHint: 0 };
  return { regionId, regionEpoch: { confVer: 1, version: 1 }, message };
}

const key = (b: number) => new Uint8Array(65).fill(b);

describe('data-region Raft towards provisional links', () => {
  it('is withheld from a doubted store and counted; an undisputed joining store, PD’s group’s messages and confirmed stores are untouched', async () => {
    const book = PeerKeyBook.inMemory();
    const answers = new Map<number, PeerKeyAnswer>([
      [2, { kind: 'key', key: key(2) }], // confirmed
      [7, { kind: 'unavailable', named: key(7) }], // joining: only the claimed PD replica's word, naming its key
      [9, { kind: 'disputed' }], // the answers disagree about it
    ]);
    const stop = book.start({ links: { peers: () => [2, 7, 9] }, lookup: async (id) => answers.get(id)!, sweepMs: 60_000 });
    for (const id of [2, 7, 9]) expect(await book.admit(id, key(id))).toBe(true);
    expect([2, 7, 9].filter((id) => book.isProvisional(id))).toEqual([7, 9]);
    const sent: [number, number[]][] = [];
    let withheld = 0;
    const t = storeTransportOf(
      { send: (to, messages) => (sent.push([to, messages.map((m) => m.regionId)]), { queued: messages.length, dropped: 0 }) },
      { doubted: (id) => book.isDoubted(id), withheld: (n) => (withheld += n) },
    );
    t.send(9, [append(PD_REGION_ID), append(40), append(41)]);
    t.send(9, [append(40)]);
    t.send(7, [append(PD_REGION_ID), append(40)]);
    t.send(2, [append(PD_REGION_ID), append(40)]);
    expect(sent).toEqual([
      [9, [PD_REGION_ID]],
      [7, [PD_REGION_ID, 40]],
      [2, [PD_REGION_ID, 40]],
    ]);
    expect(withheld).toBe(3);
    stop();
  });
});
