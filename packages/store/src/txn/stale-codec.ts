/** The body codecs of the stale reads (`txnStaleGet`, `txnStaleScan`): region, key or range, optional ts, timeout. */
import type { ByteReader, ByteWriter } from '@peerkv/proto';
import type { RequestOf } from '../request-types.ts';
import { RPC_KEY_BYTES_MAX } from '../rpc/wire.ts';
import { readOptBytes, readOptTs, readRegionTarget, readTimeout, writeOptBytes, writeOptTs, writeRegionTarget, writeTimeout } from './codec-fields.ts';

export const STALE_REQUEST_BODIES = {
  txnStaleGet: {
    write(w: ByteWriter, q: RequestOf<'txnStaleGet'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.key);
      writeOptTs(w, q.ts);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnStaleGet'> {
      const region = readRegionTarget(r);
      const key = r.bytes(RPC_KEY_BYTES_MAX, 'key');
      const ts = readOptTs(r);
      return { type: 'txnStaleGet', ...region, key, ...(ts === undefined ? {} : { ts }), ...readTimeout(r) };
    },
  },
  txnStaleScan: {
    write(w: ByteWriter, q: RequestOf<'txnStaleScan'>): void {
      writeRegionTarget(w, q);
      w.bytes(q.start);
      writeOptBytes(w, q.end);
      w.varUint(q.limit);
      writeOptTs(w, q.ts);
      writeTimeout(w, q);
    },
    read(r: ByteReader): RequestOf<'txnStaleScan'> {
      const region = readRegionTarget(r);
      const start = r.bytes(RPC_KEY_BYTES_MAX, 'start');
      const end = readOptBytes(r, RPC_KEY_BYTES_MAX, 'end');
      const limit = r.varUint();
      const ts = readOptTs(r);
      return { type: 'txnStaleScan', ...region, start, ...(end === undefined ? {} : { end }), limit, ...(ts === undefined ? {} : { ts }), ...readTimeout(r) };
    },
  },
} as const;
