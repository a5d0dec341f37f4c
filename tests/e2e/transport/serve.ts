/**
 * Node side of the transport e2e specs: bundles the browser harness with esbuild and serves
 * it from a small HTTP server on 127.0.0.1 (a secure context for WebCrypto and
 * BroadcastChannel), and starts the real signaling server on a free port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { SignalingServer } from '../../../signaling/src/server.ts';

/** A running fixture: page URL, signaling URL, and how to stop both. */
export interface Fixture {
  pageUrl: string;
  signalingUrl: string;
  signaling: SignalingServer;
  close(): Promise<void>;
}

/** Bundles `entry` (a path) for the browser as one IIFE script. */
export async function bundle(entry: string): Promise<string> {
  const out = await build({ entryPoints: [entry], bundle: true, format: 'iife', platform: 'browser', conditions: ['@peerkv/source', 'module'], target: 'es2022', write: false, logLevel: 'silent' });
  return out.outputFiles[0].text;
}

/** Serves a page that loads `script`; resolves with its URL and a closer. */
export async function servePage(script: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(script);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><meta charset="utf-8"><title>peerkv transport</title><script src="/bundle.js"></script>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Builds the harness, serves it, starts a signaling server. */
export async function startFixture(): Promise<Fixture> {
  const script = await bundle(new URL('./fixture/harness.ts', import.meta.url).pathname);
  const page = await servePage(script);
  const signaling = new SignalingServer();
  const addr = await signaling.listen(0, '127.0.0.1');
  return {
    pageUrl: page.url,
    signalingUrl: `ws://127.0.0.1:${addr.port}`,
    signaling,
    close: async () => {
      await signaling.close();
      await page.close();
    },
  };
}
