/**
 * The wire body of `txnDetectDeadlock` (request type 44; its answer is the `txn` response, a
 * unit value or a `Deadlock` key error), paired write/read, kept apart from `codec.ts`: the
 * detector's request is about transactions, not about a region's keys.
 */
import { readEnum, readTimestamp, readU64, writeEnum, writeTimestamp, writeU64, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { DeadlockRequestKind, RequestOf } from '../request-types.ts';
import { RPC_KEY_BYTES_MAX } from '../rpc/wire.ts';
import { readTimeout, writeTimeout } from './codec-fields.ts';

/** Wire order of the detector's request kinds (append only). */
const DEADLOCK_REQUEST_KINDS: readonly DeadlockRequestKind[] = ['detect', 'cleanUpWaitFor', 'cleanUp'];

/** The body codec of `txnDetectDeadlock`. */
export const TXN_DETECT_DEADLOCK_BODY = {
  write(w: ByteWriter, q: RequestOf<'txnDetectDeadlock'>): void {
    writeEnum(w, DEADLOCK_REQUEST_KINDS, q.kind);
    writeTimestamp(w, q.waiterTs);
    writeTimestamp(w, q.holderTs);
    w.bytes(q.key);
    writeU64(w, q.keyHash);
    w.varUint(q.ttlMs);
    writeTimeout(w, q);
  },
  read(r: ByteReader): RequestOf<'txnDetectDeadlock'> {
    const kind = readEnum(r, DEADLOCK_REQUEST_KINDS, 'deadlock request kind');
    const waiterTs = readTimestamp(r);
    const holderTs = readTimestamp(r);
    const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
    const keyHash = readU64(r, 'key hash');
    const ttlMs = r.varUint();
    return { type: 'txnDetectDeadlock', kind, waiterTs, holderTs, key, keyHash, ttlMs, ...readTimeout(r) };
  },
};
