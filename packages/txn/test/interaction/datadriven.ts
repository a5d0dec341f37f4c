/**
 * A small datadriven runner (cockroachdb/datadriven style, adapted from the Raft core's): a
 * file of blocks
 *
 * ```
 * # comment
 * command arg key=value
 * ----
 * expected output
 * ```
 *
 * separated by blank lines. `UPDATE_GOLDEN=1` rewrites expected outputs in place; read the
 * diff before committing it.
 */

/** One parsed script command: `name pos1 pos2 key=value`. */
export interface Command {
  name: string;
  positional: string[];
  keys: Map<string, string>;
}

/** One block of a script. */
export interface Block {
  /** Lines before the command (comments, blank lines). */
  preamble: string[];
  commandLine: string;
  expected: string;
}

/** Splits a command line into its name, positional arguments and `key=value` arguments. */
export function parseCommand(line: string): Command {
  const tokens = line.trim().split(/\s+/);
  const positional: string[] = [];
  const keys = new Map<string, string>();
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq > 0) keys.set(t.slice(0, eq), t.slice(eq + 1));
    else positional.push(t);
  }
  return { name: tokens[0], positional, keys };
}

/** The blocks of a script. */
export function parseFile(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) {
      preamble.push(line);
      i++;
      continue;
    }
    const commandLine = line;
    i++;
    if (lines[i] !== '----') throw new Error(`expected ---- after "${commandLine}" at line ${i + 1}`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i].trim() !== '') {
      out.push(lines[i]);
      i++;
    }
    blocks.push({ preamble, commandLine, expected: out.join('\n') });
    preamble = [];
  }
  return blocks;
}

/** The script with `actual` as each block's output. */
export function renderFile(blocks: Block[], actual: string[]): string {
  const parts: string[] = [];
  blocks.forEach((b, k) => {
    parts.push(...b.preamble, b.commandLine, '----', actual[k], '');
  });
  return parts.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}
