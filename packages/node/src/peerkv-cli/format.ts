/**
 * Output of the `peerkv` CLI: aligned tables for people, one JSON document for scripts
 * (`--json`; bigints as decimal strings, keys and values as text or, with `--hex`, hex).
 */
import type { OutputOptions } from './args.ts';

/** Longest cell a table prints, characters (longer ones are cut with `…`; JSON is never cut). */
export const TABLE_CELL_CHARS_MAX = 80;

const decoder = new TextDecoder();

/** Bytes as the output shows them: UTF-8 text (invalid sequences replaced), or hex with `--hex`. */
export function showBytes(b: Uint8Array, o: OutputOptions): string {
  if (o.hex) return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return decoder.decode(b);
}

/** A key range bound for a table: `-∞`/`+∞` for the empty start/end. */
export function showBound(b: Uint8Array, end: boolean, o: OutputOptions): string {
  if (b.length === 0) return end ? '+∞' : '-∞';
  return showBytes(b, o);
}

/** `rows` as a table under `columns` (upper-case headers), columns padded to their widest cell. */
export function table(columns: readonly string[], rows: readonly (readonly (string | number | boolean | undefined)[])[]): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((_, i) => cell(r[i])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => [...r[i]].length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - [...c].length))).join('  ').trimEnd()).join('\n');
}

function cell(v: string | number | boolean | undefined): string {
  if (v === undefined) return '-';
  const s = String(v).replace(/[\n\r\t]/g, ' ');
  const chars = [...s];
  return chars.length > TABLE_CELL_CHARS_MAX ? `${chars.slice(0, TABLE_CELL_CHARS_MAX - 1).join('')}…` : s;
}

/** `v` as JSON: bigints as decimal strings, byte arrays (Node Buffers too) through `showBytes`. */
export function toJson(v: unknown, o: OutputOptions): string {
  return JSON.stringify(plain(v, o, 0));
}

/** Nesting `toJson` follows at most (the values it prints are a few levels deep). */
const JSON_DEPTH_MAX = 32;

function plain(x: unknown, o: OutputOptions, depth: number): unknown {
  if (typeof x === 'bigint') return x.toString();
  if (x instanceof Uint8Array) return showBytes(x, o);
  if (typeof x !== 'object' || x === null) return x;
  if (depth >= JSON_DEPTH_MAX) return '…';
  if (Array.isArray(x)) return x.map((y) => plain(y, o, depth + 1));
  if (x instanceof Set) return [...x].map((y) => plain(y, o, depth + 1));
  return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, plain(y, o, depth + 1)]));
}
