/**
 * The store's column families and key layout.
 * - `default` (and every other data column family): user keys as they are in a `raw` store,
 *   MVCC-encoded keys in an `mvcc` one (data-model.ts); regions partition the user-key space
 *   and a store holds the ranges of the regions it hosts.
 * - `meta`: `r` + regionId (u64 BE) → region local state; `d` + regionId + clientId → that
 *   client's dedup record; `s` → the store identity; `a` + regionId → the snapshot a region
 *   is applying (pending apply); `n` + regionId + snapshot id + chunk seq → one staged chunk
 *   of a received snapshot's stream (snapshot-stage.ts); `w` + regionId → the region's data-key
 *   switch; `f` → the store's retired data key ids (data-key-switch.ts).
 * - `raft`: owned by `RaftLogStore`.
 */
import { CF_NAME_LENGTH_MAX } from '@peerkv/proto';

export const DATA_CF = 'default';
export const META_CF = 'meta';
export const RAFT_CF = 'raft';
/** The column families holding region data of a `raw` store that declares none: only `default`. */
export const DATA_CFS_DEFAULT: readonly string[] = [DATA_CF];
/**
 * Every column family a `raw` store with the default data column families opens its engine
 * with. An `mvcc` store (the default model) needs `storeColumnFamilies(MVCC_DATA_CFS)`.
 */
export const STORE_CFS = [DATA_CF, META_CF, RAFT_CF] as const;
/** What the keys of a store's data column families are: user keys as they are, or MVCC-encoded (data-model.ts). */
export type DataModel = 'raw' | 'mvcc';
/** Longest column family name, UTF-16 code units: the one the op codec enforces. */
export { CF_NAME_LENGTH_MAX };
/** Most data column families one store declares. */
export const DATA_CFS_MAX = 16;

/**
 * The column families an engine must be opened with for a store whose region data lives in
 * `dataCfs` (split, snapshot, destroy, size and digests iterate every one of them).
 */
export function storeColumnFamilies(dataCfs: readonly string[]): string[] {
  return [...dataCfs, META_CF, RAFT_CF];
}

/** Why a store's data column families were refused (`checkDataColumnFamilies`). */
export function dataColumnFamiliesProblem(dataCfs: readonly string[]): string | undefined {
  if (dataCfs.length === 0 || dataCfs.length > DATA_CFS_MAX) return `between 1 and ${DATA_CFS_MAX} data column families, got ${dataCfs.length}`;
  if (!dataCfs.includes(DATA_CF)) return `the data column families must include '${DATA_CF}'`;
  const seen = new Set<string>();
  for (const cf of dataCfs) {
    if (typeof cf !== 'string' || cf.length === 0 || cf.length > CF_NAME_LENGTH_MAX) return `a column family name is 1..${CF_NAME_LENGTH_MAX} characters: '${String(cf)}'`;
    if (cf === META_CF || cf === RAFT_CF) return `'${cf}' is the store's own column family, not a data one`;
    if (seen.has(cf)) return `column family '${cf}' is declared twice`;
    seen.add(cf);
  }
  return undefined;
}

const encoder = new TextEncoder();

function u64(prefix: number, n: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = prefix;
  new DataView(out.buffer).setBigUint64(1, BigInt(n));
  return out;
}

/** Key of a region's local state record. */
export function regionStateKey(regionId: number): Uint8Array {
  return u64(0x72 /* r */, regionId);
}

export const REGION_STATE_PREFIX_START = new Uint8Array([0x72]);
export const REGION_STATE_PREFIX_END = new Uint8Array([0x73]);

/** Prefix of a region's dedup records. */
export function dedupPrefix(regionId: number): Uint8Array {
  return u64(0x64 /* d */, regionId);
}

export function dedupKey(regionId: number, clientId: string): Uint8Array {
  const p = dedupPrefix(regionId);
  const c = encoder.encode(clientId);
  const out = new Uint8Array(p.length + c.length);
  out.set(p);
  out.set(c, p.length);
  return out;
}

/** The exclusive end of a prefix range. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] < 0xff) {
      out[i]++;
      return out.slice(0, i + 1);
    }
  }
  return new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

/**
 * Key of a region's resolved ts as this replica last applied it (`apply.ts` `applySafeTs`,
 * staged with the apply state): a restarted replica serves stale reads at it at once.
 */
export function safeTsKey(regionId: number): Uint8Array {
  return u64(0x74 /* t */, regionId);
}

/**
 * Key of a region's data-key switch as this replica last applied it (`apply.ts`
 * `applyDataKey`: the key id and the index of its entry), so a restarted replica seals with it
 * and knows where its region switched (`data-key-switch.ts`).
 */
export function dataKeySwitchKey(regionId: number): Uint8Array {
  return u64(0x77 /* w */, regionId);
}

/** Key of the store's retired data key ids: every id below the recorded one is dropped (`DataKeyring.retireBelow`). */
export const DATA_KEY_FLOOR_KEY = new Uint8Array([0x66 /* f */]);

/**
 * Key of the last data key id this store was asked to rotate to (`Store.rotateDataKey`), written
 * before the keyring moves: a store that crashed before its regions switched resumes the
 * rotation when it opens (`loadDataKeySwitches`) instead of losing it.
 */
export const DATA_KEY_ROTATION_KEY = new Uint8Array([0x52 /* R */]);

/** Key of a region's pending-apply record (the snapshot it is applying, while its state is `applying`). */
export function pendingApplyKey(regionId: number): Uint8Array {
  return u64(0x61 /* a */, regionId);
}

/** Every staged snapshot chunk of every region: `[STAGED_PREFIX_START, STAGED_PREFIX_END)`. */
export const STAGED_PREFIX_START = new Uint8Array([0x6e /* n */]);
export const STAGED_PREFIX_END = new Uint8Array([0x6f]);

/** Prefix of the staged chunks of one snapshot (`id`) of region `regionId`. */
export function stagedSnapshotPrefix(regionId: number, id: { storeId: number; boot: number; seq: number }): Uint8Array {
  const out = new Uint8Array(1 + 8 * 4);
  const v = new DataView(out.buffer);
  out[0] = STAGED_PREFIX_START[0];
  v.setBigUint64(1, BigInt(regionId));
  v.setBigUint64(9, BigInt(id.storeId));
  v.setBigUint64(17, BigInt(id.boot));
  v.setBigUint64(25, BigInt(id.seq));
  return out;
}

/** Key of chunk `seq` of a staged snapshot (`prefix` from `stagedSnapshotPrefix`). */
export function stagedChunkKey(prefix: Uint8Array, seq: number): Uint8Array {
  const out = new Uint8Array(prefix.length + 4);
  out.set(prefix);
  new DataView(out.buffer).setUint32(prefix.length, seq);
  return out;
}

/** Key of the store identity record. */
export const STORE_IDENT_KEY = new Uint8Array([0x73 /* s */]);

/** Key of the store's boot counter (one more each time the store opens: read contexts stay unique across restarts). */
export const STORE_BOOT_KEY = new Uint8Array([0x62 /* b */]);

/** Key of the store's identity key pair (`store-key.ts`), written before its identity and kept with it. */
export const STORE_KEY_PAIR_KEY = new Uint8Array([0x6b /* k */]);

/** Key of the public key this store pinned for another store on first use (`net/peer-keys.ts`). */
export function peerKeyPinKey(storeId: number): Uint8Array {
  return u64(0x4b /* K */, storeId);
}

/**
 * Key of the anchored keys this store's book was first opened with (`net/peer-keys.ts`: an
 * invite's PD voters), kept so a restart enforces them without the invite.
 */
export const PEER_KEY_ANCHORS_KEY = new Uint8Array([0x41 /* A */]);

/** Range of every pinned peer key. */
export const PEER_KEY_PIN_PREFIX_START = new Uint8Array([0x4b]);
export const PEER_KEY_PIN_PREFIX_END = new Uint8Array([0x4c]);
