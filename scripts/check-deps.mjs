#!/usr/bin/env node
/**
 * The import-graph check (issue 11, "No import cycles"): fails on
 *
 * - any import cycle, inside one package or across packages, type-only imports included
 *   (`import type` still couples two modules, and a cycle through types is one refactor away
 *   from a runtime cycle);
 * - any relative import from one package (packages/<name> or signaling, sources, tests and
 *   benchmarks alike) into another (`../../transport/src/x.ts`): packages meet through their
 *   names and `exports` maps (`@peerkv/transport/memory`), never through each other's files.
 *   The root `tests/` harness is not a package; reaching it is allowed;
 * - (issue "Reshape") any import of a Node-only module from the sources of a package a browser
 *   bundle reaches (`BROWSER_PACKAGES`): a Node builtin (`node:fs` or `fs`), a native or
 *   Node-only npm package (`NODE_ONLY_NPM`: `@roamhq/wrtc`, `ws`, `classic-level`), a Node-only
 *   subpath of a browser package (`NODE_ONLY_MODULES`: `@peerkv/storage/level`), or a Node-only
 *   package (`@peerkv/node`, `@peerkv/signaling`). Those belong in `@peerkv/node`. Each source
 *   file is checked on its own imports, so together the rules hold for everything a browser
 *   entry reaches; tests and benchmarks (outside `src/`) run in Node and may import anything.
 *
 * It runs dependency-cruiser on the TypeScript sources as written (`tsPreCompilationDeps`, so
 * the imports that compile away are seen too), prints each violation with its cycle, and exits
 * non-zero when there is one. Usage: `node scripts/check-deps.mjs [paths...]`.
 */
import { cruise } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

/** What is scanned: every package's sources, tests and benchmarks, and the signaling server. */
const SCAN_DEFAULT = ['packages', 'signaling/src', 'signaling/test'];

/** The packages a browser bundle reaches (`peerkv`, `peerkv/browser` and what they import). */
const BROWSER_PACKAGES = ['raft', 'storage', 'transport', 'pd', 'store', 'client', 'proto'];
/**
 * Their explicitly Node-only modules, each the target of a Node-only subpath export that no
 * browser module may import: `@peerkv/storage/level` (LevelDB), `peerkv/node` (`@peerkv/node`
 * under the `peerkv` name, an optional peer).
 */
const NODE_ONLY_MODULES = ['packages/storage/src/level-engine.ts', 'packages/client/src/node.ts'];
/** npm packages only Node can run: native WebRTC, the `ws` WebSocket, LevelDB (native). */
const NODE_ONLY_NPM = ['@roamhq/wrtc', 'ws', 'classic-level'];
/** Workspace packages that are Node-only as a whole. */
const NODE_ONLY_PACKAGES = ['packages/node', 'signaling'];

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const anyOf = (xs) => xs.map(escapeRe).join('|');
const browserSource = {
  path: `^packages/(${BROWSER_PACKAGES.join('|')})/src/`,
  pathNot: `^(${anyOf(NODE_ONLY_MODULES)})$`,
};

const ruleSet = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle, inside a package or across packages (type-only imports count).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-relative-cross-package',
      severity: 'error',
      comment:
        'A relative import reaching into another package. Import it by name through its exports map.',
      // A package is packages/<name> or signaling; the root tests/ harness is not one.
      from: { path: '^(packages/[^/]+|signaling)/' },
      to: { dependencyTypes: ['local'], path: '^(packages/[^/]+|signaling)/', pathNot: '^$1/' },
    },
    {
      name: 'browser-no-node-builtin',
      severity: 'error',
      comment: 'A Node builtin imported by a browser package. Node-only code goes in @peerkv/node.',
      from: browserSource,
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'browser-no-node-only-module',
      severity: 'error',
      comment:
        'A Node-only module (native/Node npm package, Node-only subpath or package) imported by a browser package. Node-only code goes in @peerkv/node.',
      from: browserSource,
      to: {
        path: `((^|/)node_modules/(@types/)?(${anyOf(NODE_ONLY_NPM)})/|^(${anyOf(NODE_ONLY_MODULES)})$|^(${anyOf(NODE_ONLY_PACKAGES)})/)`,
      },
    },
    {
      name: 'txn-only-proto',
      severity: 'error',
      comment:
        'packages/txn is the pure Percolator core: its sources import only @peerkv/proto and each other (no npm, no Node builtin, no other workspace package).',
      from: { path: '^packages/txn/src/' },
      to: { pathNot: '^packages/(txn|proto)/src/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing: the check cannot see through it.',
      from: {},
      to: { couldNotResolve: true, pathNot: '^(node:|virtual:)' },
    },
  ],
};

const options = {
  validate: true,
  ruleSet,
  tsPreCompilationDeps: true,
  // Workspace packages are symlinks in node_modules: resolve them to packages/<name>/src so a
  // cycle that crosses packages is seen as one.
  preserveSymlinks: false,
  doNotFollow: { path: 'node_modules' },
  // node_modules stays in the graph as leaves (doNotFollow) so the Node-only npm rule sees them.
  exclude: { path: '(^|/)(dist|testdata)/' },
  tsConfig: { fileName: 'tsconfig.json' },
  // Resolve `@peerkv/x` and `@peerkv/x/sub` through each package's `exports` map, as tsc does:
  // to its sources (`@peerkv/source`, see vite.config.ts), never to a build in dist/.
  enhancedResolveOptions: {
    exportsFields: ['exports'],
    conditionNames: ['@peerkv/source', 'types', 'import', 'default'],
    extensions: ['.ts', '.tsx', '.mjs', '.js', '.json'],
  },
  outputType: 'json',
};

const started = performance.now();
const scan = process.argv.length > 2 ? process.argv.slice(2) : SCAN_DEFAULT;
const tsConfig = extractTSConfig(path.join(root, 'tsconfig.json'));
const { output } = await cruise(scan, options, {}, { tsConfig });
const result = typeof output === 'string' ? JSON.parse(output) : output;
const violations = result.summary.violations;

/**
 * A cycle as one line, starting at its smallest module, so that the same cycle reported from
 * each of its modules prints once.
 */
function cycleLine(from, cycle) {
  const hops = (cycle ?? []).map((hop) => (typeof hop === 'string' ? hop : hop.name));
  const nodes = [from, ...hops.slice(0, -1)];
  let start = 0;
  for (let i = 1; i < nodes.length; i++) if (nodes[i] < nodes[start]) start = i;
  const rotated = [...nodes.slice(start), ...nodes.slice(0, start)];
  return `cycle: ${[...rotated, rotated[0]].join(' -> ')}`;
}

const lines = new Set();
for (const v of violations) {
  lines.add(v.rule.name === 'no-circular' ? cycleLine(v.from, v.cycle) : `${v.rule.name}: ${v.from} -> ${v.to}`);
}
for (const line of lines) console.log(line);

const ms = Math.round(performance.now() - started);
const modules = result.summary.totalCruised;
if (violations.length > 0) {
  console.log(`check-deps: ${lines.size} violation(s) in ${modules} modules (${ms} ms)`);
  process.exit(1);
}
console.log(`check-deps: no cycles, no cross-package relative imports, no Node-only imports in browser packages, in ${modules} modules (${ms} ms)`);
