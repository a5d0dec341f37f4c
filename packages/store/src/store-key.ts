/**
 * The store's identity key pair in its engine (issue 13, finding 6). A store makes it once,
 * the first time it starts on an empty engine (before it joins or creates a cluster, so its
 * join can carry the public key), and keeps it beside its identity record for as long as
 * the engine lives: a wiped engine is a new store with a new key, as it gets a new id. The
 * record is `u8 STORE_KEY_PAIR_FORMAT, bytes pkcs8, bytes raw public key`; the engine (Node
 * file or memory, IndexedDB in a browser) holds it like any other meta record.
 */
import { ByteReader, ByteWriter, STORE_PUBLIC_KEY_BYTES } from '@peerkv/proto';
import { WriteBatch, type KvEngine } from '@peerkv/storage';
import { STORE_PRIVATE_KEY_BYTES_MAX, generateStoreKeyPair, importStoreKeyPair, type ExportedStoreKeyPair, type StoreKeyPair } from '@peerkv/transport';
import { META_CF, STORE_KEY_PAIR_KEY } from './keys.ts';
import { StoreConfigError } from './options.ts';

/** Layout version of the key pair record (a reader refuses another). */
export const STORE_KEY_PAIR_FORMAT = 1;

function encodeKeyPair(e: ExportedStoreKeyPair): Uint8Array {
  const w = new ByteWriter();
  w.u8(STORE_KEY_PAIR_FORMAT);
  w.bytes(e.privateKey);
  w.bytes(e.publicKey);
  return w.finish();
}

function decodeKeyPair(v: Uint8Array): ExportedStoreKeyPair {
  try {
    const r = new ByteReader(v);
    const format = r.u8();
    if (format !== STORE_KEY_PAIR_FORMAT) throw new Error(`format ${format}`);
    const privateKey = r.bytes(STORE_PRIVATE_KEY_BYTES_MAX, 'private key');
    const publicKey = r.bytes(STORE_PUBLIC_KEY_BYTES, 'public key');
    r.end('store key pair');
    return { privateKey, publicKey };
  } catch (e) {
    throw new StoreConfigError(`the engine holds an unreadable store key pair: ${String(e)}`);
  }
}

/** The key pair recorded in `engine`, if any (an unreadable one is a `StoreConfigError`). */
export async function readStoreKeyPair(engine: KvEngine): Promise<StoreKeyPair | undefined> {
  const v = await engine.get(META_CF, STORE_KEY_PAIR_KEY);
  if (!v) return undefined;
  try {
    return await importStoreKeyPair(decodeKeyPair(v));
  } catch (e) {
    if (e instanceof StoreConfigError) throw e;
    throw new StoreConfigError(`the engine holds a store key pair that does not import: ${String(e)}`);
  }
}

/** The engine's key pair, made and written (durably) first if it has none. */
export async function loadOrCreateStoreKeyPair(engine: KvEngine): Promise<StoreKeyPair> {
  const had = await readStoreKeyPair(engine);
  if (had) return had;
  const made = await generateStoreKeyPair();
  await engine.write(new WriteBatch().put(META_CF, STORE_KEY_PAIR_KEY, encodeKeyPair(made)), { durability: 'strict' });
  return importStoreKeyPair(made);
}
