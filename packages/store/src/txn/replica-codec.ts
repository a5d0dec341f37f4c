/**
 * The body codecs of the replica reads (`txnReadIndex` on the leader, then `txnReplicaGet` /
 * `txnReplicaScan` on any replica): region, key or range, ts, the applied index to reach, the
 * transactions read around, timeout.
 */
import { readTimestamp, writeTimestamp, type ByteReader, type ByteWriter } from '@peerkv/proto';
import type { RequestOf } from '../request-types.ts';
import { RPC_KEY_BYTES_MAX } from '../rpc/wire.ts';
import { readOptBytes, readRegionTarget, readTimeout, readTsList, writeOptBytes, writeRegionTarget, writeTimeout, writeTsList } from './codec-fields.ts';

export const REPLICA_REQUEST_BODIES = {
  txnReadIndex: {
    write(w: ByteWriter, q: RequestOf<'txnReadIndex'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.start);
      writeOptBytes(w, q.end);
      writeTimestamp(w, q.ts);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnReadIndex'> {
      const region = readRegionTarget(r);
      const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
      const end = readOptBytes(r, RPC_KEY_BYTES_MAX, 'end');
      const ts = readTimestamp(r);
      return { type: 'txnReadIndex', ...region, start, ...(end === undefined ? {} : { end }), ts, ...readTimeout(r) };
    },
  },
  txnReplicaGet: {
    write(w: ByteWriter, q: RequestOf<'txnReplicaGet'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.key);
      writeTimestamp(w, q.ts);
      w.varUint(q.appliedIndex);
      writeTsList(w, q.bypassLocks);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnReplicaGet'> {
      const region = readRegionTarget(r);
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const ts = readTimestamp(r);
      const appliedIndex = r.varUint();
      const bypassLocks = readTsList(r);
      return { type: 'txnReplicaGet', ...region, key, ts, appliedIndex, ...(bypassLocks === undefined ? {} : { bypassLocks }), ...readTimeout(r) };
    },
  },
  txnReplicaScan: {
    write(w: ByteWriter, q: RequestOf<'txnReplicaScan'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.start);
      writeOptBytes(w, q.end);
      w.varUint(q.limit);
      writeTimestamp(w, q.ts);
      w.varUint(q.appliedIndex);
      writeTsList(w, q.bypassLocks);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnReplicaScan'> {
      const region = readRegionTarget(r);
      const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
      const end = readOptBytes(r, RPC_KEY_BYTES_MAX, 'end');
      const limit = r.varUint();
      const ts = readTimestamp(r);
      const appliedIndex = r.varUint();
      const bypassLocks = readTsList(r);
      return {
        type: 'txnReplicaScan',
        ...region,
        start,
        ...(end === undefined ? {} : { end }),
        limit,
        ts,
        appliedIndex,
        ...(bypassLocks === undefined ? {} : { bypassLocks }),
        ...readTimeout(r),
      };
    },
  },
} as const;
