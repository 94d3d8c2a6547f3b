/**
 * Kata-style socket addresses: `unix://<path>`, `hvsock://<uds path>:<port>`
 * (hybrid vsock) and `vsock://<cid>:<port>`; dialing one with retries.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";
import { connectHybridVsock } from "./hybrid_vsock.ts";
import type { DialOptions } from "./retry.ts";
import { connectUnix } from "./unix.ts";
import { connectVsock } from "./vsock.ts";

/** A parsed socket address. */
export type SocketAddress =
  | { kind: "unix"; path: string }
  | { kind: "hvsock"; path: string; port: number }
  | { kind: "vsock"; cid: number; port: number };

function u32(text: string, what: string, address: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) {
    throw new InvalidArgumentError(
      `Invalid socket address ${address}: ${what} ${text} is not a u32`,
    );
  }
  return Number(text);
}

/**
 * Parses `unix://`, `hvsock://` and `vsock://` addresses.
 * @throws {InvalidArgumentError} naming the address and what is wrong with it
 */
export function parseSocketAddress(address: string): SocketAddress {
  const m = /^([a-z]+):\/\/(.+)$/.exec(address);
  if (!m) throw new InvalidArgumentError(`Invalid socket address ${address}: missing scheme`);
  const [, scheme, rest] = m;
  if (scheme === "unix") return { kind: "unix", path: rest };
  const colon = rest.lastIndexOf(":");
  if (scheme !== "hvsock" && scheme !== "vsock") {
    throw new InvalidArgumentError(`Invalid socket address ${address}: unknown scheme ${scheme}`);
  }
  if (colon <= 0) throw new InvalidArgumentError(`Invalid socket address ${address}: missing port`);
  const port = u32(rest.slice(colon + 1), "port", address);
  if (scheme === "hvsock") return { kind: "hvsock", path: rest.slice(0, colon), port };
  const cidText = rest.slice(0, colon);
  // The agent binds vsock://-1:1024, meaning CID_ANY.
  const cid = cidText === "-1" ? 0xffffffff : u32(cidText, "cid", address);
  return { kind: "vsock", cid, port };
}

/** Formats an address back into its URL form. */
export function formatSocketAddress(addr: SocketAddress): string {
  switch (addr.kind) {
    case "unix":
      return `unix://${addr.path}`;
    case "hvsock":
      return `hvsock://${addr.path}:${addr.port}`;
    case "vsock":
      return `vsock://${addr.cid}:${addr.port}`;
  }
}

/**
 * Dials an address (vsock needs `--unstable-vsock`); hybrid and AF_VSOCK
 * retry within `opts.timeoutMs`, unix sockets are tried once.
 * @throws {UnavailableError} naming the address when it cannot be reached
 */
export function dialSocketAddress(addr: SocketAddress, opts: DialOptions = {}): Promise<Deno.Conn> {
  switch (addr.kind) {
    case "unix":
      return connectUnix(addr.path);
    case "hvsock":
      return connectHybridVsock(addr.path, addr.port, opts);
    case "vsock":
      return connectVsock(addr.cid, addr.port, opts);
  }
}
