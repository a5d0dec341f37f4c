/** Text forms of keys, timestamps, records, ops and errors for the golden scripts. */
import {
  CF_LOCK,
  TS_MAX,
  TSO_LOGICAL_BITS,
  decodeKey,
  decodeLock,
  decodeMvccKey,
  decodeWrite,
  type ActionError,
  type Lock,
  type Timestamp,
  type TxnOp,
  type Write,
} from '../../src/index.ts';

const text = new TextDecoder();
const LOGICAL_MASK = (1n << TSO_LOGICAL_BITS) - 1n;
/** Values longer than this print as their length. */
const VALUE_TEXT_MAX = 16;

/** A script timestamp: `physical` or `physical.logical`; `max` for `TS_MAX`. */
export function parseTs(s: string): Timestamp {
  if (s === 'max') return TS_MAX;
  const [p, l = '0'] = s.split('.');
  return (BigInt(p) << TSO_LOGICAL_BITS) | BigInt(l);
}

/** The script form of a timestamp. */
export function fmtTs(ts: Timestamp): string {
  if (ts === TS_MAX) return 'max';
  const logical = ts & LOGICAL_MASK;
  const physical = ts >> TSO_LOGICAL_BITS;
  return logical === 0n ? `${physical}` : `${physical}.${logical}`;
}

/** A key as text. */
export function fmtKey(key: Uint8Array): string {
  return text.decode(key);
}

/** A value as text, or its length when long. */
export function fmtValue(v: Uint8Array): string {
  return v.length > VALUE_TEXT_MAX ? `<${v.length} bytes>` : text.decode(v);
}

/** A lock record, default fields left out. */
export function fmtLock(l: Lock): string {
  const parts = [l.kind, `primary=${fmtKey(l.primary)}`, `start=${fmtTs(l.startTs)}`, `ttl=${l.ttlMs}`];
  if (l.shortValue !== undefined) parts.push(`value=${fmtValue(l.shortValue)}`);
  if (l.forUpdateTs !== 0n) parts.push(`for_update=${fmtTs(l.forUpdateTs)}`);
  if (l.txnSize !== 0) parts.push(`size=${l.txnSize}`);
  parts.push(`min_commit=${fmtTs(l.minCommitTs)}`);
  if (l.useAsyncCommit) parts.push('async');
  if (l.secondaries.length > 0) parts.push(`secondaries=(${l.secondaries.map(fmtKey).join(',')})`);
  return parts.join(' ');
}

/** A write record. */
export function fmtWrite(w: Write): string {
  const parts = [w.kind, `start=${fmtTs(w.startTs)}`];
  if (w.shortValue !== undefined) parts.push(`value=${fmtValue(w.shortValue)}`);
  if (w.hasOverlappedRollback) parts.push('overlapped_rollback');
  return parts.join(' ');
}

/** A raw column family key as text: `key` in `lock`, `key@ts` elsewhere. */
export function fmtCfKey(cf: string, key: Uint8Array): string {
  if (cf === CF_LOCK) return fmtKey(decodeKey(key));
  const { key: k, ts } = decodeMvccKey(key);
  return `${fmtKey(k)}@${fmtTs(ts)}`;
}

/** A raw column family value, decoded. */
export function fmtCfValue(cf: string, value: Uint8Array): string {
  if (cf === CF_LOCK) return fmtLock(decodeLock(value));
  if (cf === 'write') return fmtWrite(decodeWrite(value));
  return fmtValue(value);
}

/** One op an action asks for. */
export function fmtOp(op: TxnOp): string {
  const head = `${op.type} ${op.cf.padEnd(7)} ${fmtCfKey(op.cf, op.key)}`;
  return op.type === 'put' ? `${head}: ${fmtCfValue(op.cf, op.value)}` : head;
}

/** An action's error. */
export function fmtError(e: ActionError): string {
  const fields: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === 'kind') continue;
    if (typeof v === 'bigint') fields.push(`${k}=${fmtTs(v)}`);
    else if (v instanceof Uint8Array) fields.push(`${k}=${fmtKey(v)}`);
    else fields.push(`${k}=${String(v)}`);
  }
  return `error: ${e.kind} ${fields.join(' ')}`;
}
