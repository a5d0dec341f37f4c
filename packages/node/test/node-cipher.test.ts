import { describe, expect, it } from 'vitest';
import { openPayload, sealPayload, webCryptoEntryCipher } from '@peerkv/store';
import { deriveMemberKeys } from '@peerkv/transport';
import { nodeEntryCipher } from '../src/index.ts';

const SECRET = 'pk1_nodecipher-nodecipher-nodecipher-nodecipher';

describe('nodeEntryCipher', () => {
  it('seals what WebCrypto opens and opens what WebCrypto seals, bound to region and term', async () => {
    const { dataKey } = await deriveMemberKeys('c', SECRET, 1);
    const node = nodeEntryCipher(dataKey);
    const web = webCryptoEntryCipher(dataKey);
    const plain = new TextEncoder().encode('a value only full stores may read');
    const byNode = await sealPayload(node, plain, { regionId: 5, term: 7 });
    const byWeb = await sealPayload(web, plain, { regionId: 5, term: 7 });
    expect(await openPayload(web, byNode, { regionId: 5, term: 7 })).toEqual(plain);
    expect(await openPayload(node, byWeb, { regionId: 5, term: 7 })).toEqual(plain);
    await expect(openPayload(node, byNode, { regionId: 6, term: 7 })).rejects.toMatchObject({ kind: 'Unauthentic' });
    await expect(openPayload(node, byNode, { regionId: 5, term: 8 })).rejects.toMatchObject({ kind: 'Unauthentic' });
    const tampered = byNode.slice();
    tampered[tampered.length - 1] ^= 1;
    await expect(openPayload(node, tampered, { regionId: 5, term: 7 })).rejects.toMatchObject({ kind: 'Unauthentic' });
  });

  it('refuses another cluster key and gives fresh nonces', async () => {
    const a = nodeEntryCipher((await deriveMemberKeys('c', SECRET, 1)).dataKey);
    const b = nodeEntryCipher((await deriveMemberKeys('other', SECRET, 1)).dataKey);
    const sealed = await sealPayload(a, new Uint8Array([1, 2, 3]), { regionId: 1, term: 1 });
    await expect(openPayload(b, sealed, { regionId: 1, term: 1 })).rejects.toMatchObject({ kind: 'Unauthentic' });
    const nonces = new Set(Array.from({ length: 1000 }, () => Buffer.from(a.nonce()).toString('hex')));
    expect(nonces.size).toBe(1000);
  });
});
