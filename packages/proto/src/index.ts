/**
 * @peerkv/proto: the byte codec and the types every package puts on the wire.
 */
export {};
