import { defineConfig } from 'vite';

/** The demo app (demo/). Later issues add the Worker store and WebRTC polyfills here. */
export default defineConfig({
  root: 'demo',
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  build: { outDir: '../dist/demo', emptyOutDir: true },
});
