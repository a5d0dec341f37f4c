/**
 * How a publish travels between signaling processes over Redis pub/sub: one channel per topic
 * (`prefix + topic`), and a message that is a one-line header followed by the publishing
 * client's text as it came. The text is never parsed again on the way: the receiving process
 * only appends `clients` and `sender` (`relayText`), as for a local publish.
 *
 * Header: `1 <origin> <connection>\n`: the format version, the publishing process's id (a
 * process skips its own messages, which Redis hands back to it as a subscriber of the channel)
 * and the publishing connection's number on that process.
 */

/** The header's format version. */
export const ENVELOPE_VERSION = '1';
/** Longest header accepted, in UTF-16 code units (version, a 32-character id, a safe integer). */
export const ENVELOPE_HEADER_LENGTH_MAX = 64;

/** A publish as it crosses Redis. */
export interface Envelope {
  /** The publishing process's `serverId`. */
  origin: string;
  /** The publishing connection's number on that process. */
  connection: number;
  /** The client's publish message, as received. */
  text: string;
}

/** Process ids: what `serverId` may be (it sits in a space-separated header). */
export const SERVER_ID_PATTERN = /^[0-9A-Za-z_-]{1,32}$/;

/** The Redis message of a publish. */
export function writeEnvelope(e: Envelope): string {
  return `${ENVELOPE_VERSION} ${e.origin} ${e.connection}\n${e.text}`;
}

/** The envelope in a Redis message, or null when it is not one of ours. */
export function readEnvelope(message: string): Envelope | null {
  const nl = message.indexOf('\n');
  if (nl < 0 || nl > ENVELOPE_HEADER_LENGTH_MAX) return null;
  const [version, origin, connection, ...rest] = message.slice(0, nl).split(' ');
  if (version !== ENVELOPE_VERSION || rest.length > 0 || origin === undefined || !SERVER_ID_PATTERN.test(origin)) return null;
  const n = Number(connection);
  if (!/^\d+$/.test(connection ?? '') || !Number.isSafeInteger(n)) return null;
  return { origin, connection: n, text: message.slice(nl + 1) };
}
