import { describe, expect, it } from 'vitest';
import { History, type OpInput } from '../src/history.ts';
import { CHECK_BUDGET_STEPS_DEFAULT, checkLinearizable, relevantOps } from '../src/linearizability.ts';

/**
 * A tiny script language for histories: `inv a put x 1`, `inv b get x`, `ok a`, `ok b 1`,
 * `ok b nil`, `fail a`, `unk a`. Letters name clients; each client has one op open at a time.
 */
function script(lines: string[]): History {
  const h = new History();
  const open = new Map<string, number>();
  let t = 0;
  for (const line of lines) {
    const [verb, client, ...rest] = line.trim().split(/\s+/);
    t++;
    if (verb === 'inv') {
      const [kind, key, value] = rest;
      const input: OpInput = { clientId: client.charCodeAt(0), kind: kind as OpInput['kind'], key, value };
      open.set(client, h.invoke(input, t));
      continue;
    }
    const id = open.get(client);
    if (id === undefined) throw new Error(`no open op for ${client}`);
    open.delete(client);
    if (verb === 'ok') h.ok(id, t, rest[0] === undefined || rest[0] === 'nil' ? null : rest[0]);
    else if (verb === 'fail') h.fail(id, t);
    else if (verb === 'unk') h.unknown(id, t);
    else throw new Error(`bad verb ${verb}`);
  }
  h.closePending(t + 1);
  return h;
}

const check = (lines: string[]) => checkLinearizable(script(lines).operations(), { budgetSteps: CHECK_BUDGET_STEPS_DEFAULT }).verdict;

describe('linearizability checker', () => {
  it('accepts a sequential history', () => {
    expect(check(['inv a put x 1', 'ok a', 'inv a get x', 'ok a 1', 'inv b delete x', 'ok b', 'inv a get x', 'ok a nil'])).toBe('ok');
  });

  it('rejects a stale read after a completed write', () => {
    expect(check(['inv a put x 1', 'ok a', 'inv b get x', 'ok b nil'])).toBe('illegal');
  });

  it('accepts either order for concurrent operations', () => {
    expect(check(['inv a put x 1', 'inv b get x', 'ok b nil', 'ok a'])).toBe('ok');
    expect(check(['inv a put x 1', 'inv b get x', 'ok b 1', 'ok a'])).toBe('ok');
  });

  it('rejects a read that goes back in time (new then old value)', () => {
    expect(
      check(['inv a put x 1', 'ok a', 'inv a put x 2', 'inv b get x', 'ok b 2', 'inv b get x', 'ok b 1', 'ok a']),
    ).toBe('illegal');
  });

  it('rejects a value nobody wrote', () => {
    expect(check(['inv b get x', 'ok b 7'])).toBe('illegal');
  });

  it('lets an unknown write take effect later, or never', () => {
    expect(check(['inv a put x 1', 'unk a', 'inv b get x', 'ok b nil', 'inv b get x', 'ok b 1'])).toBe('ok');
    expect(check(['inv a put x 1', 'unk a', 'inv b get x', 'ok b nil'])).toBe('ok');
  });

  it('an unknown write cannot take effect before it was invoked', () => {
    expect(check(['inv b get x', 'ok b 1', 'inv a put x 1', 'unk a'])).toBe('illegal');
  });

  it('an unknown write cannot flicker: once overwritten and then observed, it cannot be read again', () => {
    expect(
      check(['inv a put x 1', 'unk a', 'inv b get x', 'ok b 1', 'inv c put x 2', 'ok c', 'inv b get x', 'ok b 1', 'inv b get x', 'ok b 2', 'inv b get x', 'ok b 1']),
    ).toBe('illegal');
  });

  it('ignores failed operations', () => {
    expect(check(['inv a put x 1', 'fail a', 'inv b get x', 'ok b nil'])).toBe('ok');
    expect(check(['inv a put x 1', 'fail a', 'inv b get x', 'ok b 1'])).toBe('illegal');
  });

  it('detects a lost acknowledged write in a final read', () => {
    expect(check(['inv a put x 1', 'ok a', 'inv a put y 2', 'ok a', 'inv z get x', 'ok z nil', 'inv z get y', 'ok z 2'])).toBe('illegal');
  });

  it('checks keys independently and names the bad key', () => {
    const h = script(['inv a put x 1', 'ok a', 'inv b put y 1', 'ok b', 'inv c get y', 'ok c nil', 'inv c get x', 'ok c 1']);
    const report = checkLinearizable(h.operations(), { budgetSteps: CHECK_BUDGET_STEPS_DEFAULT });
    expect(report.verdict).toBe('illegal');
    expect(report.keysChecked).toBe(2);
    expect(report.findings.map((f) => f.key)).toEqual(['y']);
    expect(report.findings[0].stuckOp?.kind).toBe('get');
  });

  it('drops unknown writes nobody observed and unknown reads', () => {
    const h = script(['inv a put x 1', 'unk a', 'inv b get x', 'unk b', 'inv c put x 2', 'unk c', 'inv d get x', 'ok d 2']);
    expect(relevantOps(h.operations()).map((op) => op.value ?? op.output)).toEqual(['2', '2']);
  });

  it('handles many concurrent unknown writes and many clients', () => {
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) lines.push(`inv ${String.fromCharCode(97 + i)} put x ${i}`, `unk ${String.fromCharCode(97 + i)}`);
    for (let i = 0; i < 12; i++) lines.push(`inv z get x`, `ok z ${i}`);
    expect(check(lines)).toBe('ok');
    lines.push('inv z get x', 'ok z 3'); // 3 was overwritten by 4..11 after being read
    expect(check(lines)).toBe('illegal');
  });

  it('reports unknown, not ok, when the step budget runs out, and the same verdict every time', () => {
    const lines: string[] = [];
    for (let i = 0; i < 14; i++) lines.push(`inv ${String.fromCharCode(97 + i)} put x ${i}`);
    for (let i = 0; i < 14; i++) lines.push(`ok ${String.fromCharCode(97 + i)}`);
    for (let i = 0; i < 8; i++) lines.push(`inv z get x`, `ok z 99`);
    const report = checkLinearizable(script(lines).operations(), { budgetSteps: 1_000 });
    expect(report.verdict).toBe('unknown');
    expect(report.steps).toBe(1_000);
    expect(checkLinearizable(script(lines).operations(), { budgetSteps: 1_000 })).toEqual(report);
    // With enough steps the same history is decided (illegal: 99 was never written).
    const full = checkLinearizable(script(lines).operations(), { budgetSteps: CHECK_BUDGET_STEPS_DEFAULT });
    expect(full.verdict).toBe('illegal');
    expect(full.steps).toBeGreaterThan(1_000);
  });
});
