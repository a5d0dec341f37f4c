/**
 * The ops of a write request, checked the way the PeerKV client checks its input (non-empty
 * keys within `KEY_BYTES_MAX`, values within `VALUE_BYTES_MAX`); an empty range drops out.
 */
import { compareKeys } from '@peerkv/pd';
import { DEFAULT_CF } from '@peerkv/proto';
import type { KvOp } from '@peerkv/store';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../client.ts';
import { BrowserKvError, type WriteRequest } from './protocol.ts';

/** A write request's ops; throws `InvalidArgument` for bad keys or values. */
export function writeOps(req: WriteRequest): KvOp[] {
  switch (req.type) {
    case 'put':
      return [{ type: 'put', cf: DEFAULT_CF, key: checkKey(req.key), value: checkValue(req.value) }];
    case 'delete':
      return [{ type: 'delete', cf: DEFAULT_CF, key: checkKey(req.key) }];
    case 'batchPut':
      return req.pairs.map((p) => ({ type: 'put' as const, cf: DEFAULT_CF, key: checkKey(p.key), value: checkValue(p.value) }));
    case 'batchDelete':
      return req.keys.map((k) => ({ type: 'delete' as const, cf: DEFAULT_CF, key: checkKey(k) }));
    case 'deleteRange':
      checkKey(req.start);
      return compareKeys(req.start, req.end) < 0 ? [{ type: 'deleteRange', cf: DEFAULT_CF, start: req.start, end: req.end }] : [];
  }
}

function checkKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length === 0) throw new BrowserKvError('InvalidArgument', 'key must be a non-empty Uint8Array');
  if (key.length > KEY_BYTES_MAX) throw new BrowserKvError('InvalidArgument', `key is ${key.length} bytes, over ${KEY_BYTES_MAX}`);
  return key;
}

function checkValue(value: Uint8Array): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new BrowserKvError('InvalidArgument', 'value must be a Uint8Array');
  if (value.length > VALUE_BYTES_MAX) throw new BrowserKvError('InvalidArgument', `value is ${value.length} bytes, over ${VALUE_BYTES_MAX}`);
  return value;
}
