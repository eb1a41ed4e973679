/** BFD (RFC 5880, RFC 5881 single-hop, RFC 5883 multihop): control packets and the session state machine. */
export * from './bfd/packet.js';
export * from './bfd/session.js';
export * from './bfd/echo.js';
