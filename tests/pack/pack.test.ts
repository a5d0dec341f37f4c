/**
 * The packages as a user gets them (issue 15, "Built packages"): `npm run build`, `npm pack`
 * of every published package, the tarballs installed into a fresh project outside the
 * repository with `npm ci --offline` (the third-party packages from the npm cache, at the
 * versions the repository's lockfile pins; `lockfile.ts`), and then, in that project:
 *
 * - plain Node, no TypeScript loader: an ESM program opens an in-process cluster from `peerkv`
 *   (on LevelDB from `@peerkv/node`), puts and gets, and `peerkv/node`'s `PeerKV.connect`
 *   rejects a bad option with the typed error; the README's Node example runs as written;
 * - TypeScript: a program importing every entry type-checks against the shipped `.d.ts`
 *   (`module: nodenext` and `bundler`, `skipLibCheck: false`);
 * - the bins: `npx peerkv --help`, `peerkv-store --help`, and a real round trip: the
 *   installed `peerkv-signaling`, one `peerkv-store --bootstrap` and `peerkv put`/`get` over
 *   WebRTC;
 * - the browser: the installed `peerkv` entries' import graph reaches no Node builtin and none
 *   of `@roamhq/wrtc`, `ws`, `classic-level` (while `peerkv/node`'s reaches all three); a Vite production build of an app using
 *   `peerkv/browser` holds none of them either, and served by `vite preview` in Chromium it
 *   opens a store in the runtime's Worker (the built Worker entry), puts and gets;
 * - the linters: `publint --strict` and `@arethetypeswrong/cli --profile esm-only` on every
 *   tarball.
 *
 * Run with `npm run test:pack` (part of `npm test`). Prints what it checked, with timings.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chromiumPath } from '../chromium.ts';
import { freePort } from '../e2e/browser/vite-server.ts';
import { freshProjectLock, type Lockfile, type PackedPackage } from './lockfile.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** Node-only npm packages a browser bundle must never hold. */
const NODE_ONLY_NPM = ['@roamhq/wrtc', 'ws', 'classic-level'];
/**
 * What would show that a production bundle holds Node-only code: Vite's stand-in for a Node
 * builtin, an import of one, the native modules' names and loader, `ws`'s server handshake.
 */
const NODE_ONLY_MARKERS: Record<string, RegExp> = {
  'a Node builtin (Vite stubbed it)': /__vite-browser-external/,
  'a node: import': /(?:from|import)\s*\(?\s*["']node:/,
  '@roamhq/wrtc': /@roamhq\/wrtc|wrtc\.node/,
  'classic-level': /classic-level|node-gyp-build/,
  ws: /Sec-WebSocket-Accept|WebSocketServer/,
};
/** The longest one step (a build, an install, one program) may take, ms. */
const STEP_MS_MAX = 180_000;
/** How long a store and the client get to serve a round trip, ms. */
const ROUND_TRIP_MS_MAX = 60_000;

const t0 = performance.now();
const log = (what: string) => console.log(`pack: ${what} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

/**
 * The fresh project's environment: this process's, less what would make it the repository's
 * (npm's `npm_*` settings, among them the `node-options` of the repository's .npmrc, and
 * `NODE_OPTIONS`, which carry the `@peerkv/source` condition to sources a tarball lacks).
 */
function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_OPTIONS' && !k.startsWith('VITEST')));
}

/** Runs a command to completion; throws with its output unless it exits 0. */
function run(cmd: string, args: string[], cwd: string, timeout = STEP_MS_MAX): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: userEnv(), encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The repository's published packages: those `tsconfig.build.json` builds. */
function publishedDirs(): string[] {
  const refs = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { references: { path: string }[] }).references;
  return [...new Set(refs.map((r) => dirname(r.path).replace(/^\.\//, '')))];
}

/**
 * The script of an npm package's (first) bin, from its manifest read by path: a package's
 * `exports` may hide its package.json from `require.resolve` (publint's do).
 */
function lintBin(pkg: string): string {
  const dir = join(ROOT, 'node_modules', pkg);
  const bin = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
  return join(dir, Object.values(bin)[0]!);
}

let work: string;
let app: string;
let packed: (PackedPackage & { files: string[] })[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'peerkv-pack-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const build = run(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], ROOT);
  log(build.stdout.trim());

  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const dirs = publishedDirs();
  const pack = run('npm', ['pack', '--json', '--pack-destination', tarballs, ...dirs.flatMap((d) => ['-w', d])], ROOT);
  const results = JSON.parse(pack.stdout) as { name: string; filename: string; integrity: string; files: { path: string }[] }[];
  packed = results.map((r, i) => ({
    repoPath: dirs[i]!,
    manifest: JSON.parse(readFileSync(join(ROOT, dirs[i]!, 'package.json'), 'utf8')),
    tarball: `../tarballs/${r.filename}`,
    integrity: r.integrity,
    files: r.files.map((f) => f.path),
  }));
  for (const [i, p] of packed.entries()) expect(p.manifest.name).toBe(results[i]!.name);
  log(`packed ${packed.length}: ${packed.map((p) => p.tarball.slice('../tarballs/'.length)).join(' ')}`);

  app = join(work, 'app');
  mkdirSync(app);
  const lock = freshProjectLock('peerkv-pack-app', packed, JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile);
  const pkg = { name: 'peerkv-pack-app', private: true, type: 'module', dependencies: lock.packages['']!.dependencies };
  writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lock, null, 2));
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
  log(`installed offline into ${app}: ${Object.keys(lock.packages).length - 1} packages (${packed.length} tarballs)`);
}, 3 * STEP_MS_MAX);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the packed packages, installed into a fresh project', () => {
  it('each tarball ships its build (ESM and .d.ts), its bins and README, and no sources', () => {
    for (const p of packed) {
      expect(p.files, p.manifest.name).toContain('dist/index.js');
      expect(p.files, p.manifest.name).toContain('dist/index.d.ts');
      expect(p.files.filter((f) => /^(src|test|bench)\/|\.tsbuildinfo|(?<!\.d)\.ts$/.test(f)), p.manifest.name).toEqual([]);
      for (const bin of Object.values(p.manifest.bin ?? {})) expect(p.files, p.manifest.name).toContain(bin.replace(/^\.\//, ''));
      expect(p.files, p.manifest.name).toContain('README.md');
    }
    log(`tarballs: ${packed.map((p) => `${p.manifest.name}=${p.files.length} files`).join(' ')}`);
  });

  it('publint (strict) and arethetypeswrong (ESM-only profile) find no problem in any tarball', () => {
    // Both lint the tarball as published and exit non-zero on a problem: publint --strict
    // counts warnings too; attw's esm-only profile ignores only the CommonJS resolutions
    // (node10, node16-cjs) these ESM-only packages do not offer.
    const [publint, attw] = [lintBin('publint'), lintBin('@arethetypeswrong/cli')];
    for (const p of packed) {
      const tarball = join(work, 'tarballs', p.tarball.slice('../tarballs/'.length));
      const lint = run(process.execPath, [publint, tarball, '--strict'], work);
      expect(lint.stdout, p.manifest.name).toMatch(/All good!/);
      // attw is run without `run`'s throw so that a failure names the problems, not the JSON.
      const types = spawnSync(process.execPath, [attw, tarball, '--profile', 'esm-only', '--format', 'json'], {
        cwd: work,
        env: userEnv(),
        encoding: 'utf8',
        timeout: STEP_MS_MAX,
        maxBuffer: 64 * 1024 * 1024,
      });
      if (!types.stdout.trim()) throw new Error(`attw ${tarball} exited ${types.status ?? types.signal} with no report:\n${types.stderr}`);
      const { analysis, problems } = JSON.parse(types.stdout) as {
        analysis: { types: unknown; entrypoints?: Record<string, unknown> };
        problems?: Record<string, { kind: string; entrypoint?: string; resolutionKind?: string }[]>;
      };
      const esmProblems = Object.values(problems ?? {})
        .flat()
        .filter((x) => x.resolutionKind !== 'node10' && x.resolutionKind !== 'node16-cjs')
        .map((x) => `${x.kind} ${x.entrypoint ?? ''} (${x.resolutionKind ?? 'any resolution'})`);
      expect(esmProblems, p.manifest.name).toEqual([]);
      expect(types.status, `${p.manifest.name}: attw exit status\n${types.stderr}`).toBe(0);
      // (attw exits 0 for a package without types at all: that is a problem here)
      expect(analysis.types, p.manifest.name).not.toBe(false);
      expect(Object.keys(analysis.entrypoints ?? {}).length, p.manifest.name).toBeGreaterThan(0);
    }
    log(`publint --strict and attw --profile esm-only: no problem in ${packed.length} tarballs`);
  }, STEP_MS_MAX);

  it('plain Node (no TypeScript loader) runs an in-process cluster: put, get, scan, typed errors', () => {
    writeFileSync(
      join(app, 'node-check.mjs'),
      `import { PdCluster, PeerKV, PeerKVError, codec } from 'peerkv';
import { MemoryEngine } from '@peerkv/storage';
import { PeerKV as NodePeerKV } from 'peerkv/node';
import { openLevelStoreEngine } from '@peerkv/node';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';

const dir = mkdtempSync(join(process.cwd(), 'level-'));
const cluster = new PdCluster({
  openEngine: (name, cfs) => (name === 'a' ? openLevelStoreEngine(join(dir, name)) : MemoryEngine.open({ columnFamilies: cfs })),
});
await cluster.bootstrap('a');
await cluster.join('b');
await cluster.join('c');
const kv = new PeerKV({ pd: cluster, stores: cluster });
await kv.put(codec.text('user/1'), codec.text('ada'));
await kv.put(codec.text('user/2'), codec.text('grace'));
const got = codec.fromText(await kv.get(codec.text('user/1')));
const keys = [];
for await (const p of kv.scan({ start: codec.text('user/'), limit: 10 })) keys.push(codec.fromText(p.key));
let refused = 'none';
try {
  await NodePeerKV.connect({ cluster: '', secret: 's', signaling: 'ws://127.0.0.1:1' });
} catch (e) {
  refused = e instanceof PeerKVError ? e.kind : String(e);
}
const stores = (await kv.status()).stores.length;
await cluster.close();
console.log(JSON.stringify({ got, keys, refused, stores }));
`,
    );
    const r = run(process.execPath, ['node-check.mjs'], app, ROUND_TRIP_MS_MAX);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({ got: 'ada', keys: ['user/1', 'user/2'], refused: 'InvalidArgument', stores: 3 });
    log(`node: in-process cluster (LevelDB + memory) put/get/scan from the build, PeerKV.connect (peerkv/node)'s InvalidArgument: ${r.stdout.trim()}`);
  }, STEP_MS_MAX);

  it("README's Node example runs as written", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /```js\n(\/\/ Node, plain ESM[^]*?)```/.exec(readme)?.[1];
    expect(block, 'README: a ```js block starting "// Node, plain ESM"').toBeDefined();
    writeFileSync(join(app, 'readme-node.mjs'), block!);
    const r = run(process.execPath, ['readme-node.mjs'], app, ROUND_TRIP_MS_MAX);
    expect(r.stdout.trim()).toBe('ada');
    log(`README's Node example (in-process cluster, put, get) printed "${r.stdout.trim()}"`);
  }, STEP_MS_MAX);

  it('TypeScript type-checks a program using every entry against the shipped .d.ts', () => {
    writeFileSync(
      join(app, 'check.ts'),
      `import { PeerKV, PdCluster, codec, type PeerKVError } from 'peerkv';
import { PeerKV as BrowserKV, type BrowserPeerKV } from 'peerkv/browser';
import { PeerKV as NodePeerKV, openLevelStoreEngine } from '@peerkv/node';
import { aesGcmEntryCipher, nodeEntryCipher } from '@peerkv/node/cipher';
import { PeerKV as NodePeerKV2, type NodePeerKV as NodeClient } from 'peerkv/node';
import { MemoryEngine } from '@peerkv/storage';
import { LevelEngine } from '@peerkv/storage/level';
import { Store } from '@peerkv/store';
import { SignalingServer } from '@peerkv/signaling';
import { MemoryNetwork } from '@peerkv/transport/memory';
export async function use(): Promise<string | undefined> {
  const kv: PeerKV = new PeerKV({ pd: new PdCluster({ openEngine: (_n, cfs) => MemoryEngine.open({ columnFamilies: cfs }) }), stores: undefined as never });
  const b: Promise<BrowserPeerKV> = BrowserKV.open({ cluster: 'x' });
  const n: Promise<NodeClient> = NodePeerKV.connect({ cluster: 'x', secret: 's', signaling: 'ws://127.0.0.1:4444' });
  const n2: Promise<NodeClient> = NodePeerKV2.connect({ cluster: 'x', secret: 's', signaling: 'ws://127.0.0.1:4444' });
  const e: PeerKVError | undefined = undefined;
  void [b, n, n2, e, openLevelStoreEngine, aesGcmEntryCipher, nodeEntryCipher, LevelEngine, Store, SignalingServer, MemoryNetwork];
  const v = await kv.get(codec.text('k'));
  return v === undefined ? undefined : codec.fromText(v);
}
`,
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const [module, moduleResolution] of [['nodenext', 'nodenext'], ['esnext', 'bundler']]) {
      const cfg = { compilerOptions: { module, moduleResolution, target: 'es2022', lib: ['es2023', 'dom'], types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], strict: true, noEmit: true, skipLibCheck: false }, files: ['check.ts'] };
      writeFileSync(join(app, `tsconfig.${moduleResolution}.json`), JSON.stringify(cfg));
      run(process.execPath, [tsc, '-p', `tsconfig.${moduleResolution}.json`], app);
    }
    log('types: a program importing peerkv, peerkv/browser, peerkv/node, @peerkv/node(/cipher), @peerkv/storage(/level), @peerkv/store, @peerkv/signaling, @peerkv/transport/memory type-checks (nodenext and bundler, skipLibCheck off)');
  }, STEP_MS_MAX);

  it('the bins run from the build: npx peerkv --help, peerkv-store --help, and signaling + a store + peerkv put/get', async () => {
    const help = run('npx', ['--offline', 'peerkv', '--help'], app);
    expect(help.stdout).toMatch(/^usage: peerkv /);
    expect(run('npx', ['--offline', 'peerkv-store', '--help'], app).stdout).toMatch(/^usage: peerkv-store /);
    const bin = (name: string) => join(app, 'node_modules', '.bin', name);

    const port = await freePort();
    const signaling = spawn(bin('peerkv-signaling'), ['--host', '127.0.0.1', '--port', String(port)], { cwd: app, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => signaling.kill('SIGKILL'));
    const env = { PEERKV_CLUSTER: `pack-${process.pid}`, PEERKV_SECRET: 'pack-test-secret', PEERKV_SIGNALING: `ws://127.0.0.1:${port}` };
    const store = spawn(
      bin('peerkv-store'),
      ['--data', join(work, 'store-a'), '--cluster', env.PEERKV_CLUSTER, '--secret', env.PEERKV_SECRET, '--signaling', env.PEERKV_SIGNALING, '--bootstrap', '--bootstrap-probe-ms', '300', '--tick-ms', '50', '--drain-wait-ms', '100'],
      { cwd: app, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => store.kill('SIGKILL'));
    let storeOut = '';
    store.stdout.on('data', (d: Buffer) => (storeOut += d.toString()));
    store.stderr.on('data', (d: Buffer) => (storeOut += d.toString()));
    const deadline = performance.now() + ROUND_TRIP_MS_MAX;
    while (!/peerkv-store serving store=\d+ cluster=\S+ started=bootstrapped/.test(storeOut)) {
      if (performance.now() > deadline || store.exitCode !== null) throw new Error(`peerkv-store did not serve:\n${storeOut}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    log('bins: peerkv-signaling and peerkv-store (bootstrapped) serving from the build');
    const cli = (args: string[]) => spawnSync(bin('peerkv'), args, { cwd: app, env: { ...userEnv(), ...env }, encoding: 'utf8', timeout: ROUND_TRIP_MS_MAX });
    const put = cli(['put', 'pack/1', 'from-the-tarball']);
    expect(put.status, put.stderr).toBe(0);
    const get = cli(['get', 'pack/1']);
    expect({ code: get.status, out: get.stdout.trim() }, get.stderr).toEqual({ code: 0, out: 'from-the-tarball' });
    expect(cli(['get', 'pack/absent']).status).toBe(2);
    store.kill('SIGTERM');
    await new Promise((r) => store.once('exit', r));
    expect(storeOut).toMatch(/peerkv-store: closed/);
    log('bins: npx peerkv --help, peerkv-store --help; peerkv put, get (exit 0), get of an absent key (exit 2) over WebRTC; peerkv-store closed on SIGTERM');
  }, STEP_MS_MAX);

  it("the installed browser entries' import graph holds no Node builtin and no Node-only package", () => {
    const { files, external } = browserImportGraph(app, ['peerkv', 'peerkv/browser']);
    expect(files).toBeGreaterThan(50);
    const nodeOnly = [...external].filter((s) => s.startsWith('node:') || NODE_ONLY_NPM.some((n) => s === n || s.startsWith(`${n}/`)));
    expect(nodeOnly).toEqual([]);
    // The walk sees them where they are: `peerkv/node` (the Node client) reaches all three.
    const node = browserImportGraph(app, ['peerkv/node']).external;
    expect(NODE_ONLY_NPM.filter((n) => ![...node].some((s) => s === n || s.startsWith(`${n}/`)))).toEqual([]);
    log(`browser graph: ${files} modules from peerkv and peerkv/browser; third-party: ${[...external].sort().join(' ')}`);
  });

  it('a Vite production build of a web app using peerkv/browser holds no Node-only module and runs in Chromium', async () => {
    const web = join(app, 'web');
    mkdirSync(web);
    writeFileSync(join(web, 'index.html'), '<!doctype html><meta charset="utf-8"><title>peerkv pack</title><script type="module" src="./main.js"></script>');
    writeFileSync(
      join(web, 'main.js'),
      `import { PeerKV } from 'peerkv/browser';
const te = new TextEncoder();
window.result = (async () => {
  const kv = await PeerKV.open({ cluster: 'pack-web', bootstrapProbeMs: 200 });
  await kv.put(te.encode('k'), te.encode('from the built worker'));
  const v = await kv.get(te.encode('k'));
  return new TextDecoder().decode(v);
})().catch((e) => 'error: ' + (e && e.stack || e));
`,
    );
    const viteUrl = pathToFileURL(join(ROOT, 'node_modules', 'vite', 'dist', 'node', 'index.js')).href;
    writeFileSync(
      join(web, 'build.mjs'),
      `const { build } = await import(${JSON.stringify(viteUrl)});
const warnings = [];
await build({
  root: import.meta.dirname, configFile: false, logLevel: 'warn', mode: 'production',
  worker: { format: 'es' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', rollupOptions: { onwarn: (w) => warnings.push(String(w.message ?? w)) } },
});
console.log(JSON.stringify({ warnings }));
`,
    );
    const built = run(process.execPath, ['build.mjs'], web);
    const { warnings } = JSON.parse(built.stdout.trim().split('\n').at(-1)!) as { warnings: string[] };
    const assets = readdirSync(join(web, 'dist', 'assets')).filter((f) => f.endsWith('.js'));
    const bundle = assets.map((f) => readFileSync(join(web, 'dist', 'assets', f), 'utf8')).join('\n');
    expect(assets.some((f) => f.startsWith('store-worker'))).toBe(true);
    expect(Object.entries(NODE_ONLY_MARKERS).filter(([, re]) => re.test(bundle)).map(([what]) => what)).toEqual([]);
    expect(warnings.filter((w) => /externalized for browser|node:|wrtc|classic-level|\bws\b/.test(w))).toEqual([]);
    log(`vite: production build ${assets.join(' ')} (${(bundle.length / 1024).toFixed(0)} KiB of JS), no Node-only module`);

    const port = await freePort();
    const server: PreviewServer = await preview({ root: web, configFile: false, logLevel: 'warn', preview: { host: '127.0.0.1', port, strictPort: true } });
    cleanups.push(() => server.close());
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    const result = await page.evaluate(() => (window as unknown as { result: Promise<string> }).result);
    expect({ result, errors }).toEqual({ result: 'from the built worker', errors: [] });
    log(`vite preview in Chromium: PeerKV.open (a store in the built Worker, IndexedDB), put, get -> "${result}"`);
  }, STEP_MS_MAX);
});

/**
 * The modules reachable from `entries` (bare specifiers resolved from `app` through each
 * package's `exports` with the browser's conditions), following relative imports and the
 * workspace packages; third-party packages and builtins are collected, not entered.
 */
function browserImportGraph(app: string, entries: string[]): { files: number; external: Set<string> } {
  const ours = new Set(packed.map((p) => p.manifest.name));
  const seen = new Set<string>();
  const external = new Set<string>();
  const queue = entries.map((e) => resolveExport(app, e));
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|[;\s])(?:import|export)\s(?:[^'";]*?\sfrom\s*)?(['"])([^'"]+)\1|import\((['"])([^'"]+)\3\)|new URL\((['"])([^'"]+)\5, import\.meta\.url\)/g)) {
      const spec = m[2] ?? m[4] ?? m[6]!;
      if (spec.startsWith('.')) queue.push(join(dirname(file), spec));
      else if (ours.has(packageName(spec))) queue.push(resolveExport(app, spec));
      else external.add(spec);
    }
  }
  return { files: seen.size, external };
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** `spec` (`peerkv/browser`) through its package's `exports`: browser, import, default. */
function resolveExport(app: string, spec: string): string {
  const name = packageName(spec);
  const dir = join(app, 'node_modules', name);
  const exp = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> }).exports;
  const target = exp[`.${spec.slice(name.length)}`];
  const file = target?.browser ?? target?.import ?? target?.default;
  if (file === undefined || !existsSync(join(dir, file))) throw new Error(`${spec}: no browser/import/default export in ${dir}`);
  return join(dir, file);
}
