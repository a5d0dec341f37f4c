/**
 * The `anchors` option of `openBrowser` and the host's store (an invite's PD voters and keys,
 * `PeerKeyAnchor`), checked in the page before anything opens and again in the Worker.
 */
import { PeerKeyAnchorError, checkPeerKeyAnchors, type PeerKeyAnchor } from '@peerkv/store';
import { BrowserKvError } from './protocol.ts';

/** `anchors` as `checkPeerKeyAnchors` takes them, or `InvalidArgument` naming what is wrong. */
export function checkAnchorOption(anchors: unknown): void {
  if (anchors === undefined) return;
  if (!Array.isArray(anchors)) throw new BrowserKvError('InvalidArgument', 'anchors must be a list of { storeId, publicKey }');
  try {
    checkPeerKeyAnchors(anchors as PeerKeyAnchor[]);
  } catch (e) {
    if (e instanceof PeerKeyAnchorError) throw new BrowserKvError('InvalidArgument', `anchors: ${e.message}`);
    throw e;
  }
}