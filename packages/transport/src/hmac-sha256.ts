/**
 * HMAC-SHA-256 (RFC 2104, FIPS 180-4) in plain synchronous JavaScript, for per-packet link
 * MACs (`link-mac.ts`). WebCrypto computes the same, but only behind a Promise: in Chromium
 * every call is a round trip to a crypto thread, which on a busy page put milliseconds on
 * the p99 of a message round trip and cut BroadcastChannel throughput by two thirds
 * (`npm run bench:transport`). Here a key's inner and outer pad states are computed once,
 * so a MAC costs the message's blocks plus three.
 *
 * Checked against WebCrypto in `test/hmac-sha256.test.ts`.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const IV = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const BLOCK_BYTES = 64;
/** Bytes of a SHA-256 digest (and of an HMAC-SHA-256 tag). */
export const SHA256_BYTES = 32;

/** Message schedule scratch (one per module: everything here is synchronous). */
const W = new Int32Array(64);

/** Runs the compression function over `blocks` 64-byte blocks of `data` from `offset`. */
function compress(state: Int32Array, data: Uint8Array, offset: number, blocks: number): void {
  let a0 = state[0], b0 = state[1], c0 = state[2], d0 = state[3], e0 = state[4], f0 = state[5], g0 = state[6], h0 = state[7];
  for (let blk = 0; blk < blocks; blk++, offset += BLOCK_BYTES) {
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      W[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15], y = W[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = a0, b = b0, c = c0, d = d0, e = e0, f = f0, g = g0, h = h0;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
    e0 = (e0 + e) | 0; f0 = (f0 + f) | 0; g0 = (g0 + g) | 0; h0 = (h0 + h) | 0;
  }
  state[0] = a0; state[1] = b0; state[2] = c0; state[3] = d0; state[4] = e0; state[5] = f0; state[6] = g0; state[7] = h0;
}

/** Padding scratch: the last partial block, the 0x80 byte and the length (at most two blocks). */
const TAIL = new Uint8Array(2 * BLOCK_BYTES);

/**
 * Hashes `parts` (in order) on top of `state`, which has already absorbed `prefixBytes`
 * bytes (whole blocks), and writes the digest into `out` at `outOffset`.
 */
function finish(state: Int32Array, prefixBytes: number, parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): void {
  let total = prefixBytes;
  let tailBytes = 0;
  for (const p of parts) {
    total += p.length;
    let at = 0;
    if (tailBytes > 0) {
      const take = Math.min(BLOCK_BYTES - tailBytes, p.length);
      TAIL.set(p.subarray(0, take), tailBytes);
      tailBytes += take;
      at = take;
      if (tailBytes < BLOCK_BYTES) continue;
      compress(state, TAIL, 0, 1);
      tailBytes = 0;
    }
    const blocks = Math.floor((p.length - at) / BLOCK_BYTES);
    if (blocks > 0) compress(state, p, at, blocks);
    at += blocks * BLOCK_BYTES;
    TAIL.set(p.subarray(at), 0);
    tailBytes = p.length - at;
  }
  TAIL.fill(0, tailBytes);
  TAIL[tailBytes] = 0x80;
  const tailBlocks = tailBytes + 9 <= BLOCK_BYTES ? 1 : 2;
  const bits = total * 8;
  const end = tailBlocks * BLOCK_BYTES;
  // Lengths here stay far below 2^53 bits: the high word is exact.
  const hi = Math.floor(bits / 0x1_0000_0000);
  TAIL[end - 8] = hi >>> 24; TAIL[end - 7] = hi >>> 16; TAIL[end - 6] = hi >>> 8; TAIL[end - 5] = hi;
  TAIL[end - 4] = bits >>> 24; TAIL[end - 3] = bits >>> 16; TAIL[end - 2] = bits >>> 8; TAIL[end - 1] = bits;
  compress(state, TAIL, 0, tailBlocks);
  for (let i = 0; i < 8; i++) {
    const v = state[i];
    const j = outOffset + i * 4;
    out[j] = v >>> 24; out[j + 1] = v >>> 16; out[j + 2] = v >>> 8; out[j + 3] = v;
  }
}

/** An HMAC-SHA-256 key with its pad states precomputed. */
export class HmacSha256Key {
  private readonly inner = new Int32Array(8);
  private readonly outer = new Int32Array(8);
  private readonly state = new Int32Array(8);
  private readonly innerDigest = new Uint8Array(SHA256_BYTES);

  constructor(key: Uint8Array) {
    let k = key;
    if (k.length > BLOCK_BYTES) {
      k = new Uint8Array(SHA256_BYTES);
      this.state.set(IV);
      finish(this.state, 0, [key], k, 0);
    }
    const pad = new Uint8Array(BLOCK_BYTES);
    pad.set(k);
    for (let i = 0; i < BLOCK_BYTES; i++) pad[i] ^= 0x36;
    this.inner.set(IV);
    compress(this.inner, pad, 0, 1);
    for (let i = 0; i < BLOCK_BYTES; i++) pad[i] ^= 0x36 ^ 0x5c;
    this.outer.set(IV);
    compress(this.outer, pad, 0, 1);
  }

  /** Writes HMAC(key, concatenation of `parts`) into `out` at `outOffset`. */
  macInto(parts: readonly Uint8Array[], out: Uint8Array, outOffset: number): void {
    this.state.set(this.inner);
    finish(this.state, BLOCK_BYTES, parts, this.innerDigest, 0);
    this.state.set(this.outer);
    finish(this.state, BLOCK_BYTES, [this.innerDigest], out, outOffset);
  }

  /** HMAC(key, concatenation of `parts`) as fresh bytes. */
  mac(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(SHA256_BYTES);
    this.macInto(parts, out, 0);
    return out;
  }
}
