/**
 * The lockfile of the pack test's fresh project: the packed tarballs at the top of
 * node_modules, and every third-party package they need at the exact version, path and
 * integrity the repository's own package-lock.json pins. `npm ci --offline` then installs the
 * tarballs with nothing but the npm cache that the repository's `npm ci` filled (which holds
 * tarballs by integrity, not the registry documents an `npm install <range>` would read).
 */

/** One entry of a lockfile's `packages` map (the fields npm reads; others pass through). */
export interface LockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

export interface Lockfile {
  name: string;
  lockfileVersion: number;
  requires: boolean;
  packages: Record<string, LockEntry>;
}

/** A packed workspace package: its manifest and the tarball `npm pack` wrote. */
export interface PackedPackage {
  /** Where the package lives in the repository (`packages/raft`, `signaling`). */
  repoPath: string;
  manifest: LockEntry & { name: string; version: string; bin?: Record<string, string>; engines?: Record<string, string> };
  /** The tarball, relative to the fresh project (`../tarballs/peerkv-0.1.0.tgz`). */
  tarball: string;
  integrity: string;
}

/** More third-party packages than this in the closure is a walk gone wrong. */
export const CLOSURE_PACKAGES_MAX = 500;

/**
 * Where Node finds `name` from the lock path `from` (`node_modules/a/node_modules/b`, or a
 * workspace's `packages/raft`): the nearest `<dir>/node_modules/name` up the path.
 */
function lookup(lock: Lockfile, from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (dir === '') return undefined;
    // Up one node_modules level; a top-level package or a workspace goes to the root.
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut >= 0 ? dir.slice(0, cut) : '';
  }
}

/** The dependency names npm installs for an entry (optional peers only if something else asks). */
function installedDeps(e: LockEntry): { name: string; optional: boolean }[] {
  const optionalPeers = new Set(Object.entries(e.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n));
  return [
    ...Object.keys(e.dependencies ?? {}).map((name) => ({ name, optional: false })),
    ...Object.keys(e.optionalDependencies ?? {}).map((name) => ({ name, optional: true })),
    ...Object.keys(e.peerDependencies ?? {}).filter((n) => !optionalPeers.has(n)).map((name) => ({ name, optional: false })),
  ];
}

/**
 * The fresh project's lockfile. `packed` are the tarballs (installed at node_modules/<name>,
 * each the root project's dependency); `repoLock` the repository's lockfile, whose workspace
 * entries (`packages/...`) say where each third-party dependency was installed. Throws when a
 * required dependency is in neither.
 */
export function freshProjectLock(projectName: string, packed: readonly PackedPackage[], repoLock: Lockfile): Lockfile {
  const ours = new Map(packed.map((p) => [p.manifest.name, p]));
  const packages: Record<string, LockEntry> = {
    '': { name: projectName, dependencies: Object.fromEntries(packed.map((p) => [p.manifest.name, `file:${p.tarball}`])) },
  };
  for (const p of packed) {
    const { name: _name, ...fields } = p.manifest;
    packages[`node_modules/${p.manifest.name}`] = { ...pick(fields), version: p.manifest.version, resolved: `file:${p.tarball}`, integrity: p.integrity };
  }
  // Third-party packages: walk from each workspace package's entry in the repository's lock.
  const queue: { from: string; deps: { name: string; optional: boolean }[]; via: string }[] = packed.map((p) => ({
    from: p.repoPath,
    deps: installedDeps(p.manifest).filter((d) => !ours.has(d.name)),
    via: p.manifest.name,
  }));
  while (queue.length > 0) {
    const { from, deps, via } = queue.shift()!;
    for (const d of deps) {
      const at = lookup(repoLock, from, d.name);
      if (at === undefined) {
        if (d.optional) continue;
        throw new Error(`${via} needs ${d.name}, which the repository's package-lock.json does not hold`);
      }
      if (at.startsWith('packages/') || !at.startsWith('node_modules/')) throw new Error(`${via} needs ${d.name} at ${at}, a workspace path`);
      if (packages[at]) continue;
      const entry = repoLock.packages[at]!;
      if (entry.link) throw new Error(`${via} needs ${d.name}, a link in the repository (${entry.resolved})`);
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
      packages[at] = kept;
      if (Object.keys(packages).length > CLOSURE_PACKAGES_MAX + packed.length + 1) throw new Error(`more than ${CLOSURE_PACKAGES_MAX} third-party packages`);
      queue.push({ from: at, deps: installedDeps(entry), via: `${via} > ${d.name}` });
    }
  }
  return { name: projectName, lockfileVersion: 3, requires: true, packages };
}

/** The manifest fields a lockfile entry carries. */
function pick(m: LockEntry): LockEntry {
  const out: Record<string, unknown> = {};
  for (const k of ['dependencies', 'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin', 'engines']) {
    if (m[k] !== undefined) out[k] = m[k];
  }
  return out as LockEntry;
}
