/**
 * Bytes for a ConfChangeV2 in a log entry: JSON via TextEncoder (deterministic, small,
 * available in every runtime). Empty data is the empty ConfChangeV2 that leaves a joint
 * config (what a leader proposes on auto-leave). The transport carries it as opaque bytes.
 */
import type { ConfChangeSingle, ConfChangeV2 } from '../types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const CHANGE_TYPES: ReadonlySet<string> = new Set(['addNode', 'removeNode', 'addLearnerNode']);
const TRANSITIONS: ReadonlySet<string> = new Set(['auto', 'implicit', 'explicit']);

/** Thrown when conf-change bytes are not a valid ConfChangeV2. */
export class ConfChangeDecodeError extends Error {
  override readonly name = 'ConfChangeDecodeError';
}

export function encodeConfChange(cc: ConfChangeV2): Uint8Array {
  const ctx = cc.context ? Array.from(cc.context) : undefined;
  return encoder.encode(JSON.stringify({ t: cc.transition, c: cc.changes.map((c) => [c.type, c.nodeId]), x: ctx }));
}

export function decodeConfChange(data: Uint8Array): ConfChangeV2 {
  if (data.length === 0) return { transition: 'auto', changes: [] };
  let o: unknown;
  try {
    o = JSON.parse(decoder.decode(data));
  } catch {
    throw new ConfChangeDecodeError('conf change is not JSON');
  }
  const rec = o as { t?: unknown; c?: unknown; x?: unknown };
  if (typeof rec.t !== 'string' || !TRANSITIONS.has(rec.t) || !Array.isArray(rec.c)) {
    throw new ConfChangeDecodeError('conf change has no valid transition or changes');
  }
  const changes: ConfChangeSingle[] = rec.c.map((c: unknown) => {
    if (!Array.isArray(c) || typeof c[0] !== 'string' || !CHANGE_TYPES.has(c[0]) || !Number.isSafeInteger(c[1])) {
      throw new ConfChangeDecodeError('invalid conf change item');
    }
    return { type: c[0] as ConfChangeSingle['type'], nodeId: c[1] as number };
  });
  const cc: ConfChangeV2 = { transition: rec.t as ConfChangeV2['transition'], changes };
  if (Array.isArray(rec.x)) cc.context = Uint8Array.from(rec.x as number[]);
  return cc;
}
