/**
 * The demo's build-time settings: `VITE_PEERKV_SIGNALING` (set by `npm start`) is the
 * signaling server the demo's stores use when the page's URL names none.
 */
interface ImportMetaEnv {
  readonly VITE_PEERKV_SIGNALING?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
