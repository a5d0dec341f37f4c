/**
 * Golden interaction tests: every `testdata/*.txt` script is run and its output compared.
 * `UPDATE_GOLDEN=1 npx vitest run packages/raft/test/golden.test.ts` rewrites them.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InteractionEnv } from './interaction/env.ts';
import { parseCommand, parseFile, renderFile } from './interaction/datadriven.ts';

const dir = join(import.meta.dirname, '..', 'testdata');
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

describe('golden interaction scripts', () => {
  it('has scripts', () => {
    expect(files.length).toBeGreaterThan(10);
  });
  for (const file of files) {
    it(file, () => {
      const path = join(dir, file);
      const blocks = parseFile(readFileSync(path, 'utf8'));
      const env = new InteractionEnv();
      const actual = blocks.map((b) => env.handle(parseCommand(b.commandLine)));
      if (process.env.UPDATE_GOLDEN === '1') {
        writeFileSync(path, renderFile(blocks, actual));
        return;
      }
      blocks.forEach((b, k) => {
        expect(actual[k], `${file}: ${b.commandLine}`).toBe(b.expected);
      });
    });
  }
});
