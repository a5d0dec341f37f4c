/**
 * `vouchedKey` (issue 13): when PD's answers about a store key, relayed by members, are
 * believed. One lying member cannot vouch alone, nor with ids it poses as, nor against one
 * honest PD replica; two honest PD replicas vouch for each other from a standing start.
 */
import { describe, expect, it } from 'vitest';
import { vouchedKey, type KeyStatement, type KeyStatements } from '../src/net/key-vouch.ts';

function key(fill: number): Uint8Array {
  const k = new Uint8Array(65).fill(fill);
  k[0] = 0x04;
  return k;
}

/** Statements from `said` ([answerer, subject, what]), the links' proven keys and the keys already held. */
function statements(said: [number, number, KeyStatement][], proven: Record<number, Uint8Array>, known: Record<number, Uint8Array> = {}): KeyStatements {
  const m = new Map<number, Map<number, KeyStatement>>();
  for (const [a, s, w] of said) {
    if (!m.has(a)) m.set(a, new Map());
    m.get(a)!.set(s, w);
  }
  return { said: m, proven: (id) => proven[id], known: (id) => known[id] };
}

// Stores 1 and 2 are honest PD replicas; 3 is the claimed id (real key 30, the impostor's 66);
// 9 is a lying member (a registered store, key 90); 8 an id the liar poses as (key 80, PD has no store 8).
const real = { 1: key(10), 2: key(20), 3: key(30), 9: key(90) };
const impostor = key(66);

describe('vouchedKey', () => {
  it('a lying member alone cannot vouch: one answer is never enough', () => {
    const st = statements([[9, 3, impostor]], { 9: real[9] }, { 9: real[9] });
    expect(vouchedKey(3, st)).toEqual({ kind: 'unavailable', named: impostor });
  });

  it('a lying member with an id it poses as vouches only where no honest PD replica answers', () => {
    // The liar (9) and its second identity (8) vouch for each other and for the impostor: with
    // only them reachable they are all of PD the asker sees (the documented limit).
    const alone = statements(
      [
        [9, 3, impostor],
        [8, 3, impostor],
        [9, 8, key(80)],
        [8, 9, real[9]],
      ],
      { 9: real[9], 8: key(80) },
    );
    expect(vouchedKey(3, alone).kind).toBe('key');
    // One honest PD replica among the answers disputes it.
    const withHonest = statements(
      [
        [9, 3, impostor],
        [8, 3, impostor],
        [1, 3, real[3]],
        [9, 8, key(80)],
        [8, 9, real[9]],
        [1, 8, 'none'],
        [1, 9, real[9]],
      ],
      { 9: real[9], 8: key(80), 1: real[1] },
    );
    expect(vouchedKey(3, withHonest)).toEqual({ kind: 'disputed' });
  });

  it('two honest PD replicas vouch for each other from a standing start; a key held already trusts its answerer', () => {
    const st = statements(
      [
        [1, 3, real[3]],
        [2, 3, real[3]],
        [1, 2, real[2]],
        [2, 1, real[1]],
      ],
      { 1: real[1], 2: real[2] },
    );
    expect(vouchedKey(3, st)).toEqual({ kind: 'key', key: real[3], vouchers: [1, 2] });
    // Nobody asked about each other, but both keys are held: trusted.
    const held = statements(
      [
        [1, 3, real[3]],
        [2, 3, real[3]],
      ],
      { 1: real[1], 2: real[2] },
      { 1: real[1], 2: real[2] },
    );
    expect(vouchedKey(3, held).kind).toBe('key');
    // An answerer whose link proved another key than the one held is not trusted.
    const posing = statements(
      [
        [1, 3, real[3]],
        [2, 3, real[3]],
      ],
      { 1: real[1], 2: key(21) },
      { 1: real[1], 2: real[2] },
    );
    expect(vouchedKey(3, posing)).toEqual({ kind: 'unavailable', named: real[3] });
  });

  it('the claimed store’s own word never counts; a lagging replica (no key yet) disputes until it catches up; all saying none is none', () => {
    const self = statements(
      [
        [3, 3, impostor],
        [9, 3, impostor],
      ],
      { 3: impostor, 9: real[9] },
      { 9: real[9] },
    );
    expect(vouchedKey(3, self)).toEqual({ kind: 'unavailable', named: impostor });
    const lagging = statements(
      [
        [1, 3, real[3]],
        [2, 3, 'none'],
      ],
      { 1: real[1], 2: real[2] },
      { 1: real[1], 2: real[2] },
    );
    expect(vouchedKey(3, lagging)).toEqual({ kind: 'disputed' });
    const none = statements(
      [
        [1, 3, 'none'],
        [2, 3, 'none'],
      ],
      { 1: real[1], 2: real[2] },
    );
    expect(vouchedKey(3, none)).toEqual({ kind: 'none' });
  });

  it('an asker that is one of three PD voters without PD’s record (a witness) believes the third voter, whose key the claimed store vouches for', () => {
    const st = statements(
      [
        [2, 1, real[1]],
        [1, 2, real[2]],
      ],
      { 1: real[1], 2: real[2] },
    );
    expect(vouchedKey(1, st)).toEqual({ kind: 'unavailable', named: real[1] }); // by default the claimed store vouches for nobody
    expect(vouchedKey(1, st, { vouchersMin: 1, subjectVouches: true })).toEqual({ kind: 'key', key: real[1], vouchers: [2] });
    // An impostor of store 1 cannot get the third voter's (honest) word for its key.
    const imp = statements(
      [
        [2, 1, real[1]],
        [1, 2, real[2]],
      ],
      { 1: impostor, 2: real[2] },
    );
    expect(vouchedKey(1, imp, { vouchersMin: 1, subjectVouches: true })).toEqual({ kind: 'key', key: real[1], vouchers: [2] }); // the real key: the impostor's link is refused
  });

  it('a lone liar against two honest PD replicas is a dispute, never outvoted (two registered liars would otherwise outvote one honest replica)', () => {
    // The liar (9) disputes store 3's key; stores 1 and 2 vouch for each other and for 3.
    const lone = statements(
      [
        [1, 3, real[3]],
        [2, 3, real[3]],
        [9, 3, impostor],
        [1, 2, real[2]],
        [2, 1, real[1]],
        [9, 1, real[1]],
        [9, 2, real[2]],
        [1, 9, real[9]],
        [2, 9, real[9]],
      ],
      { 1: real[1], 2: real[2], 9: real[9] },
    );
    expect(vouchedKey(3, lone)).toEqual({ kind: 'disputed' });
    // A liar that also disputes the honest answerers' keys, once the asker holds them.
    const lyingAboutAll = statements(
      [
        [1, 3, real[3]],
        [2, 3, real[3]],
        [9, 3, impostor],
        [9, 1, key(11)],
        [9, 2, key(22)],
      ],
      { 1: real[1], 2: real[2], 9: real[9] },
      { 1: real[1], 2: real[2], 9: real[9] },
    );
    expect(vouchedKey(3, lyingAboutAll)).toEqual({ kind: 'disputed' });
    // One honest answerer against one liar.
    const even = statements(
      [
        [1, 3, real[3]],
        [9, 3, impostor],
      ],
      { 1: real[1], 9: real[9] },
      { 1: real[1], 9: real[9] },
    );
    expect(vouchedKey(3, even)).toEqual({ kind: 'disputed' });
  });
});
