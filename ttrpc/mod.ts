/**
 * Hand-written ttRPC (containerd's RPC over a byte stream), wire-compatible
 * with Go containerd/ttrpc and ttrpc-rust: a server dispatching to
 * connect-typed handler objects and a connect Transport for typed clients.
 * Unary calls only (no ttRPC streaming): none of the services used need it.
 * @module
 */
export { TtrpcServer } from "./server.ts";
export type { ConnListener } from "./server.ts";
export type { ServerConn } from "./server_connection.ts";
export { createTtrpcTransport } from "./transport.ts";
export type { ConnFactory, TtrpcTransport, TtrpcTransportOptions } from "./transport.ts";
export { ClientConnection } from "./client_connection.ts";
export type { CallOptions, ClientConn } from "./client_connection.ts";
export { metadataKey, metadataValues, requestMetadata } from "./metadata.ts";
export type { KeyValue } from "./envelope.ts";
export { codeFromName, statusFromError } from "./status.ts";
export { Flags, HEADER_SIZE, MAX_DATA_LENGTH, MessageType } from "./frame.ts";
export { connectUnix, listenUnix } from "./transport/unix.ts";
export { connectHybridVsock } from "./transport/hybrid_vsock.ts";
export { connectVsock, listenVsock, VMADDR_CID_ANY } from "./transport/vsock.ts";
export { dialSocketAddress, formatSocketAddress, parseSocketAddress } from "./transport/address.ts";
export type { SocketAddress } from "./transport/address.ts";
export { DialTimeoutError } from "./transport/retry.ts";
export type { DialOptions } from "./transport/retry.ts";
