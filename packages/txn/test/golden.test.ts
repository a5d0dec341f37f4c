/**
 * Golden interaction scripts: every `testdata/*.txt` is run and its output compared.
 * `UPDATE_GOLDEN=1 npx vitest run packages/txn/test/golden.test.ts` rewrites them; read the
 * diff before committing it.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TxnEnv } from './interaction/env.ts';
import { parseCommand, parseFile, renderFile } from './interaction/datadriven.ts';

const dir = join(import.meta.dirname, '..', 'testdata');
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

describe('txn golden scripts', () => {
  it('has scripts', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });
  for (const file of files) {
    it(file, async () => {
      const path = join(dir, file);
      const blocks = parseFile(readFileSync(path, 'utf8'));
      const env = new TxnEnv();
      const actual: string[] = [];
      for (const b of blocks) actual.push(await env.handle(parseCommand(b.commandLine)));
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
