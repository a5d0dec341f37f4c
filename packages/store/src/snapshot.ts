/**
 * Region snapshot payloads: the region's metadata, its key-value pairs and its dedup table,
 * encoded as one byte string (Raft treats it as opaque). Generated on demand from the
 * engine when a leader must send one, so its data is exactly the applied state.
 */
import type { Region } from '@peerkv/pd';
import { ByteReader, ByteWriter } from '@peerkv/transport';
import { COMMAND_KEY_BYTES_MAX, COMMAND_VALUE_BYTES_MAX, CommandDecodeError, readRegion, writeRegion } from './command.ts';
import { readDedupBody, writeDedupBody, type DedupEntry } from './dedup.ts';

/** Upper bound of pairs in one region snapshot (regions split long before). */
export const SNAPSHOT_PAIRS_MAX = 4_000_000;
const CLIENT_ID_BYTES_MAX = 256;
const DEDUP_CLIENTS_MAX = 1_000_000;

export interface SnapshotPayload {
  region: Region;
  pairs: { key: Uint8Array; value: Uint8Array }[];
  dedup: DedupEntry[];
}

const FORMAT_VERSION = 2;

export function encodeSnapshotPayload(p: SnapshotPayload): Uint8Array {
  const w = new ByteWriter();
  w.varUint(FORMAT_VERSION);
  writeRegion(w, p.region);
  w.varUint(p.pairs.length);
  for (const kv of p.pairs) {
    w.bytes(kv.key);
    w.bytes(kv.value);
  }
  w.varUint(p.dedup.length);
  for (const d of p.dedup) {
    w.string(d.clientId);
    writeDedupBody(w, d);
  }
  return w.finish();
}

export function decodeSnapshotPayload(data: Uint8Array): SnapshotPayload {
  try {
    const r = new ByteReader(data);
    const version = r.varUint();
    if (version !== FORMAT_VERSION) throw new CommandDecodeError(`unknown snapshot format ${version}`);
    const region = readRegion(r);
    const n = r.count(SNAPSHOT_PAIRS_MAX, 2, 'snapshot pairs');
    const pairs: SnapshotPayload['pairs'] = [];
    for (let i = 0; i < n; i++) {
      pairs.push({ key: r.bytes(COMMAND_KEY_BYTES_MAX, 'key'), value: r.bytes(COMMAND_VALUE_BYTES_MAX, 'value') });
    }
    const m = r.count(DEDUP_CLIENTS_MAX, 3, 'dedup entries');
    const dedup: DedupEntry[] = [];
    for (let i = 0; i < m; i++) {
      dedup.push(readDedupBody(r, r.string(CLIENT_ID_BYTES_MAX, 'client id')));
    }
    r.end('snapshot');
    return { region, pairs, dedup };
  } catch (e) {
    if (e instanceof CommandDecodeError) throw e;
    throw new CommandDecodeError((e as Error).message);
  }
}
