/**
 * `peerkv/node`: the Node client under the `peerkv` name, `PeerKV.connect` (a client of a
 * networked cluster that holds no data), `kv.admin`, the Node transport and LevelDB engine:
 * everything `@peerkv/node` exports. `@peerkv/node` is an optional peer dependency of
 * `peerkv`, so a web app that installs `peerkv` gets no native module; a Node program installs
 * both (`npm install peerkv @peerkv/node`). Nothing else in `peerkv` imports this entry.
 */
export * from '@peerkv/node';
