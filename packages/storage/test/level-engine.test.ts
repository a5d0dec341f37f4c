/** LevelDB-specific behaviour: the format record, and refusing foreign or newer data. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteBatch } from '../src/engine.ts';
import { LevelEngine } from '../src/level-engine.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'peerkv-level-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const enc = new TextEncoder();

describe('LevelEngine format', () => {
  it('refuses a newer format and leaves the data untouched', async () => {
    const location = join(tempDir(), 'db');
    const e = await LevelEngine.open({ location, columnFamilies: ['a'] });
    await e.write(new WriteBatch().put('a', enc.encode('k'), enc.encode('v')), { durability: 'strict' });
    await e.close();
    const raw = new ClassicLevel<string, string>(location);
    const formatKey = '\u0000format';
    const record = JSON.parse((await raw.get(formatKey)) as string);
    await raw.put(formatKey, JSON.stringify({ ...record, format: 7 }));
    await raw.close();
    await expect(LevelEngine.open({ location, columnFamilies: ['a', 'b'] })).rejects.toMatchObject({ kind: 'FormatUnsupported' });
    const again = new ClassicLevel<string, string>(location);
    expect(JSON.parse((await again.get(formatKey)) as string).cfs).toEqual({ a: 1 });
    await again.close();
  });

  it('refuses a LevelDB written by something else', async () => {
    const location = join(tempDir(), 'db');
    const raw = new ClassicLevel<string, string>(location);
    await raw.put('foreign', 'data');
    await raw.close();
    await expect(LevelEngine.open({ location, columnFamilies: ['a'] })).rejects.toMatchObject({ kind: 'FormatUnsupported' });
  });

  it('a second open of a locked directory fails typed', async () => {
    const location = join(tempDir(), 'db');
    const e = await LevelEngine.open({ location, columnFamilies: ['a'] });
    await expect(LevelEngine.open({ location, columnFamilies: ['a'] })).rejects.toMatchObject({ name: 'StorageError' });
    await e.close();
  });
});

describe('LevelEngine getSync', () => {
  it('answers what get answers, per column family, and fails typed once closed', async () => {
    const e = await LevelEngine.open({ location: join(tempDir(), 'db'), columnFamilies: ['a', 'b'] });
    await e.write(new WriteBatch().put('a', enc.encode('k'), enc.encode('v1')).put('b', enc.encode('k'), enc.encode('v2')), { durability: 'strict' });
    expect(e.getSync('a', enc.encode('k'))).toEqual(await e.get('a', enc.encode('k')));
    expect(e.getSync('b', enc.encode('k'))).toEqual(enc.encode('v2'));
    expect(e.getSync('a', enc.encode('missing'))).toBeUndefined();
    expect(e.getSync('a', new Uint8Array())).toBeUndefined();
    // A write that resolved is seen at once.
    await e.write(new WriteBatch().delete('a', enc.encode('k')), { durability: 'relaxed' });
    expect(e.getSync('a', enc.encode('k'))).toBeUndefined();
    expect(() => e.getSync('nope', enc.encode('k'))).toThrow(/column family/);
    await e.close();
    expect(() => e.getSync('a', enc.encode('k'))).toThrow(expect.objectContaining({ kind: 'Closed' }));
  });
});
