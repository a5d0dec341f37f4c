/**
 * The text a publish is relayed as. The sender's text goes out as it came, with `clients`
 * (subscriber count, as y-webrtc's server sets it) and `sender` (the publishing connection's
 * id: a number, or `"<serverId>:<n>"` when processes share topics through Redis) appended: re-serialising a parsed payload costs a stack frame per nesting level (10 KB
 * of nested arrays overflowed it and took the process down, issue 13 finding 1). A later
 * duplicate key wins in JSON.parse, so ours do: a client cannot forge `sender`.
 */

/** The relayed text of `text` (a parsed JSON object), or null when it does not end as one. */
export function relayText(text: string, clients: number, senderId: number | string): string | null {
  const body = text.trimEnd();
  if (!body.endsWith('}')) return null;
  const head = body.slice(0, -1).trimEnd();
  return `${head}${head.endsWith('{') ? '' : ','}"clients":${clients},"sender":${JSON.stringify(senderId)}}`;
}
