/**
 * Figure 8 (§5.4.2) as a deterministic scenario: testdata/commit-current-term.txt, where a
 * term-1 entry reaches a majority under a term-3 leader. The correct leader waits for its
 * own term's entry; the mutant that counts replicas commits index 2 at once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InteractionEnv } from './interaction/env.ts';
import { parseCommand, parseFile } from './interaction/datadriven.ts';

function run(mutant: boolean): string {
  const blocks = parseFile(readFileSync(join(import.meta.dirname, '..', 'testdata', 'commit-current-term.txt'), 'utf8'));
  const env = new InteractionEnv(mutant ? { unsafeTestMutations: { commitPreviousTermByCount: true } } : {});
  return blocks.map((b) => env.handle(parseCommand(b.commandLine))).join('\n');
}

describe('Figure 8: commit only entries of the current term by counting', () => {
  it('the correct leader never commits the term-1 entry at index 2 by itself', () => {
    const out = run(false);
    expect(out).not.toMatch(/HardState Term:3 Vote:1 Commit:2/);
    expect(out).toMatch(/HardState Term:3 Vote:1 Commit:3/);
    expect(out).toMatch(/1: leader term=3 lead=1 commit=3 /);
  });

  it('the mutant that counts replicas commits it (the scenario can tell them apart)', () => {
    // The mutant also skips the empty entry of its term (as in the paper's figure), so x is
    // index 1: it is committed by a term-3 leader whose log holds no term-3 entry at all.
    const out = run(true);
    expect(out).toMatch(/1: leader term=3 lead=1 commit=1 /);
    expect(out).not.toMatch(/^3\/\d+ /m);
  });
});
