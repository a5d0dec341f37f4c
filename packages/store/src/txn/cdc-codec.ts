/**
 * The change feed pull's codecs (`txnCdcPull`, `handlers/cdc.ts`), paired: the request body
 * (region, range, fromTs, cursor, limits, wait, timeout) and the answer's value (events,
 * watermark, cursor, more), which travels as the txn value kind `cdc` (`codec.ts`).
 *
 * Event: `u8 kind (0 put, 1 delete)`, `bytes key`, `ts commitTs`, then a put's `bytes value`.
 */
import { DecodeError, readTimestamp, writeTimestamp, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { RequestOf } from '../request-types.ts';
import { RPC_KEY_BYTES_MAX, RPC_VALUE_BYTES_MAX } from '../rpc/wire.ts';
import { readOptBytes, readRegionTarget, readTimeout, writeOptBytes, writeRegionTarget, writeTimeout } from './codec-fields.ts';
import type { CdcCursor, CdcEvent, TxnCdcResult } from './types.ts';

/** Events one answer carries at most on the wire (the handler's `CDC_PAGE_EVENTS_MAX` bounds them first). */
export const CDC_WIRE_EVENTS_MAX = 65_536;
/** Bytes of an event at least: its kind, an empty key's length, a one-byte ts. */
const CDC_EVENT_BYTES_MIN = 3;

function writeOptCursor(w: ByteWriter, c: CdcCursor | undefined): void {
  w.bool(c !== undefined);
  if (c === undefined) return;
  writeTimestamp(w, c.commitTs);
  w.bytes(c.key);
}

function readOptCursor(r: ByteReader): CdcCursor | undefined {
  if (!r.bool()) return undefined;
  const commitTs = readTimestamp(r);
  return { commitTs, key: r.bytes(RPC_KEY_BYTES_MAX, 'cursor key') };
}

/** The body codec of `txnCdcPull`. */
export const CDC_REQUEST_BODY = {
  write(w: ByteWriter, q: RequestOf<'txnCdcPull'>): void {
    writeRegionTarget(w, q);
    w.bytes(q.start);
    writeOptBytes(w, q.end);
    writeTimestamp(w, q.fromTs);
    writeOptCursor(w, q.cursor);
    w.varUint(q.eventsMax);
    w.varUint(q.bytesMax);
    w.varUint(q.waitMs);
    writeTimeout(w, q);
  },
  read(r: ByteReader): RequestOf<'txnCdcPull'> {
    const region = readRegionTarget(r);
    const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
    const end = readOptBytes(r, RPC_KEY_BYTES_MAX, 'end');
    const fromTs = readTimestamp(r);
    const cursor = readOptCursor(r);
    const eventsMax = r.varUint();
    const bytesMax = r.varUint();
    const waitMs = r.varUint();
    return {
      type: 'txnCdcPull',
      ...region,
      start,
      ...(end === undefined ? {} : { end }),
      fromTs,
      ...(cursor === undefined ? {} : { cursor }),
      eventsMax,
      bytesMax,
      waitMs,
      ...readTimeout(r),
    };
  },
};

function writeEvent(w: ByteWriter, e: CdcEvent): void {
  w.u8(e.type === 'put' ? 0 : 1);
  w.bytes(e.key);
  writeTimestamp(w, e.commitTs);
  if (e.type === 'put') w.bytes(e.value);
}

function readEvent(r: ByteReader): CdcEvent {
  const kind = r.u8();
  if (kind > 1) throw new DecodeError('InvalidValue', `cdc event kind ${kind}`);
  const key = r.bytes(RPC_KEY_BYTES_MAX, 'event key');
  const commitTs = readTimestamp(r);
  if (kind === 1) return { type: 'delete', key, commitTs };
  return { type: 'put', key, value: r.bytes(RPC_VALUE_BYTES_MAX, 'event value'), commitTs };
}

/** Writes a pull's answer value (after its txn value kind). */
export function writeCdcResult(w: ByteWriter, v: TxnCdcResult): void {
  w.varUint(v.events.length);
  for (const e of v.events) writeEvent(w, e);
  writeTimestamp(w, v.resolvedTs);
  writeOptCursor(w, v.cursor);
  w.bool(v.more);
}

/** Reads a pull's answer value written by `writeCdcResult`. */
export function readCdcResult(r: ByteReader): TxnCdcResult {
  const n = r.count(CDC_WIRE_EVENTS_MAX, CDC_EVENT_BYTES_MIN, 'cdc events');
  const events = Array.from({ length: n }, () => readEvent(r));
  const resolvedTs = readTimestamp(r);
  const cursor = readOptCursor(r);
  const more = r.bool();
  return cursor === undefined ? { events, resolvedTs, more } : { events, resolvedTs, cursor, more };
}
