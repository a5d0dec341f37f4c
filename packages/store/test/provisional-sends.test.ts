/**
 * A store whose link is provisional (its key not confirmed yet) gets no data-region Raft from
 * this store, as it may send none (issue 13): `storeTransportOf` withholds those messages,
 * entries and snapshot frames alike, and counts them; PD's group's messages still go, and
 * confirmed stores get everything.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '@peerkv/raft';
import type { RegionMessage } from '@peerkv/transport';
import { PD_REGION_ID, storeTransportOf } from '../src/index.ts';

function append(regionId: number): RegionMessage {
  const message: Message = { type: 'MsgApp', to: 2, from: 1, term: 3, logTerm: 3, index: 7, entries: [{ term: 3, index: 8, type: 'normal', data: new Uint8Array([1]) }], commit: 7, reject: false, rejectHint: 0 };
  return { regionId, regionEpoch: { confVer: 1, version: 1 }, message };
}

describe('data-region Raft towards provisional links', () => {
  it('is withheld and counted; PD’s group’s messages and confirmed stores are untouched', () => {
    const sent: [number, number[]][] = [];
    let withheld = 0;
    const t = storeTransportOf(
      { send: (to, messages) => (sent.push([to, messages.map((m) => m.regionId)]), { queued: messages.length, dropped: 0 }) },
      { provisional: (id) => id === 9, withheld: (n) => (withheld += n) },
    );
    t.send(9, [append(PD_REGION_ID), append(40), append(41)]);
    t.send(9, [append(40)]);
    t.send(2, [append(PD_REGION_ID), append(40)]);
    expect(sent).toEqual([
      [9, [PD_REGION_ID]],
      [2, [PD_REGION_ID, 40]],
    ]);
    expect(withheld).toBe(3);
  });
});
