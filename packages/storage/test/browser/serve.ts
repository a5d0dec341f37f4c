/**
 * Serves a worker bundle to Chromium for the storage browser suite and benchmark: esbuild
 * bundles a TypeScript entry for the browser, a tiny HTTP server on 127.0.0.1 serves it
 * with a page that runs it in a dedicated Worker (IndexedDB needs a real origin).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';

/** Bundles `entry` (a worker script) into one classic-worker script. */
export async function bundleWorker(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    // The workspace packages' TypeScript sources, not their build (see vite.config.ts).
    conditions: ['@peerkv/source', 'module'],
    target: 'es2022',
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

/**
 * The page: `runWorker(message)` starts `/worker.js`, posts `message`, logs each `{log}` it
 * sends back, and resolves with its `{done}` message (rejects on a worker error).
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>peerkv storage</title><script>
window.runWorker = (message) => new Promise((resolve, reject) => {
  const w = new Worker('/worker.js');
  w.onmessage = (e) => {
    if (e.data && e.data.log !== undefined) { console.log(e.data.log); return; }
    w.terminate();
    resolve(e.data);
  };
  w.onerror = (e) => { w.terminate(); reject(new Error('worker error: ' + e.message)); };
  w.postMessage(message);
});
</script>`;

/** A running server; `url` is its origin. */
export interface WorkerServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the page at `/` and `workerJs` at `/worker.js` on 127.0.0.1 (a free port). */
export async function serveWorker(workerJs: string): Promise<WorkerServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/worker.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(workerJs);
    } else if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
