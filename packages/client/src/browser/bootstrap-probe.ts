/**
 * How long an empty networked store listens for members of its cluster before creating it
 * (`startNetworkStore`'s `bootstrap: 'auto'`). The probe exists so that two stores never
 * create two clusters under one name; it is skipped only where no member can exist.
 *
 * A store opened with no signaling servers reaches other stores over BroadcastChannel only:
 * the stores of the same origin and browser profile, which keep their data in the same
 * IndexedDB. Every such store of the cluster has its database `peerkv:<cluster>:<storeName>`
 * there (a member wrote its identity into it). So when IndexedDB lists no database of the
 * cluster but this store's own (and its own offline queue), nothing the probe could hear
 * exists, and the store creates the cluster at once.
 *
 * The store lists the databases after it opened (so created) its own: of two new stores of one
 * profile opening together, at least the later one to list sees the other's database and
 * probes, and hears the first (up within milliseconds on BroadcastChannel) or, if both list
 * each other, both probe and the smaller temporary id creates the cluster as before. A store
 * with signaling servers, or a browser that cannot list its databases, probes in full.
 */
/** What decides the probe. */
export interface ProbeContext {
  cluster: string;
  /** This store's own databases (its store and its offline queue). */
  ownDatabases: readonly string[];
  /** Signaling servers the store uses (any: stores of other devices may exist). */
  signaling: readonly string[];
  /** The full probe, ms. */
  probeMs: number;
}

/**
 * The probe an empty store needs, ms: 0 when `databaseNames` (IndexedDB's list, taken after
 * this store's own database was created; undefined if it cannot be listed) shows that no
 * other store of the cluster can answer; else `c.probeMs`. See the module header.
 */
export function bootstrapProbeMsFor(c: ProbeContext, databaseNames: readonly string[] | undefined): number {
  if (c.signaling.length > 0 || databaseNames === undefined) return c.probeMs;
  const own = new Set(c.ownDatabases);
  // A prefix match also counts clusters whose name extends this one's: a longer probe, never a
  // missed member.
  const others = databaseNames.filter((n) => n.startsWith(`peerkv:${c.cluster}:`) && !own.has(n));
  return others.length === 0 ? 0 : c.probeMs;
}
