/**
 * The hybrid vsock's Unix-socket multiplexer (like Firecracker's
 * `VsockMuxer`): host programs connect to one Unix socket and write
 * `CONNECT <port>\n`; the muxer opens a stream to that guest port and
 * answers `OK <host port>\n` once the guest accepted. A guest connecting to
 * host port P is relayed to the Unix socket `<path>_<P>`. Packets from the
 * guest are routed to their connection here.
 * @module
 */
import { type ConnectionLink, hostPacket, VsockConnection } from "./connection.ts";
import {
  HOST_CID,
  OP,
  parseConnectLine,
  SHUTDOWN_RCV,
  SHUTDOWN_SEND,
  TYPE_STREAM,
  type VsockHeader,
} from "./packet.ts";

const CONNECT_LINE_MAX = 32;
const FIRST_HOST_PORT = 1 << 30;

/** The streams of one vsock device and the Unix sockets behind them. */
export class VsockMuxer implements ConnectionLink {
  readonly #conns = new Map<string, VsockConnection>();
  readonly #listener: Deno.Listener<Deno.UnixConn>;
  readonly #toGuest: (packet: Uint8Array<ArrayBuffer>) => void;
  readonly #active: () => boolean;
  #nextPort = FIRST_HOST_PORT;
  #closed = false;

  /**
   * Serves host connections on `listener` (bound at `path`); `toGuest`
   * queues packets for the guest; `active` says whether the device runs (a
   * host connection before the guest driver is up is refused).
   */
  constructor(
    readonly path: string,
    readonly guestCid: number,
    listener: Deno.Listener<Deno.UnixConn>,
    toGuest: (packet: Uint8Array<ArrayBuffer>) => void,
    active: () => boolean,
  ) {
    this.#listener = listener;
    this.#toGuest = toGuest;
    this.#active = active;
    void this.#acceptLoop();
  }

  toGuest(packet: Uint8Array<ArrayBuffer>): void {
    this.#toGuest(packet);
  }

  ended(c: VsockConnection): void {
    this.#conns.delete(c.key);
  }

  /** Drops every stream (device reset). */
  dropAll(): void {
    for (const c of [...this.#conns.values()]) c.drop();
  }

  /** Drops every stream and stops listening. */
  close(): void {
    this.#closed = true;
    this.dropAll();
    try {
      this.#listener.close();
    } catch { /* already closed */ }
  }

  /** Routes one packet from the guest. */
  fromGuest(h: VsockHeader, payload: Uint8Array): void {
    if (h.type !== TYPE_STREAM || h.dstCid !== HOST_CID || h.srcCid !== this.guestCid) {
      if (h.op !== OP.RST) this.#sendRst(h.dstPort, h.srcPort);
      return;
    }
    const c = this.#conns.get(`${h.dstPort}:${h.srcPort}`);
    if (h.op === OP.REQUEST) {
      if (c) this.#sendRst(h.dstPort, h.srcPort);
      else void this.#guestConnect(h);
      return;
    }
    if (!c) {
      if (h.op !== OP.RST) this.#sendRst(h.dstPort, h.srcPort);
      return;
    }
    c.credit(h);
    switch (h.op) {
      case OP.RESPONSE:
        if (!c.established) {
          c.established = true;
          void c.hostWrite(new TextEncoder().encode(`OK ${c.localPort}\n`), false);
          void c.pump();
        }
        break;
      case OP.RW:
        if (c.established && payload.length > 0) void c.hostWrite(payload.slice(), true);
        break;
      case OP.CREDIT_REQUEST:
        c.send(OP.CREDIT_UPDATE);
        break;
      case OP.CREDIT_UPDATE:
        break;
      case OP.SHUTDOWN:
        // The guest sends no more: finish writing, then end the host side.
        if (h.flags & SHUTDOWN_SEND) c.closeWriteWhenWritten();
        if ((h.flags & (SHUTDOWN_SEND | SHUTDOWN_RCV)) === (SHUTDOWN_SEND | SHUTDOWN_RCV)) {
          c.rst();
          c.dropWhenWritten();
        }
        break;
      case OP.RST:
        c.drop();
        break;
    }
  }

  #sendRst(localPort: number, peerPort: number): void {
    this.#toGuest(hostPacket(this.guestCid, localPort, peerPort, OP.RST));
  }

  async #guestConnect(h: VsockHeader): Promise<void> {
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path: `${this.path}_${h.dstPort}` });
    } catch {
      this.#sendRst(h.dstPort, h.srcPort);
      return;
    }
    if (this.#closed) {
      conn.close();
      return;
    }
    const c = this.#newConnection(h.dstPort, h.srcPort, conn);
    c.credit(h);
    c.established = true;
    c.send(OP.RESPONSE);
    void c.pump();
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // listener closed
      }
      void this.#hostConnect(conn);
    }
  }

  async #hostConnect(conn: Deno.UnixConn): Promise<void> {
    // Read the command one byte at a time so no stream byte after "\n" is consumed.
    const line: number[] = [];
    const one = new Uint8Array(1);
    try {
      while (line.length < CONNECT_LINE_MAX) {
        const n = await conn.read(one);
        if (n === null) break;
        if (one[0] === 0x0a) break;
        line.push(one[0]);
      }
    } catch { /* treated as a bad command */ }
    const port = parseConnectLine(new TextDecoder().decode(Uint8Array.from(line)));
    if (port === undefined || this.#closed || !this.#active()) {
      conn.close();
      return;
    }
    const c = this.#newConnection(this.#allocatePort(), port, conn);
    c.send(OP.REQUEST);
  }

  #allocatePort(): number {
    for (;;) {
      const p = this.#nextPort;
      this.#nextPort = this.#nextPort + 1 >= 2 ** 31 ? FIRST_HOST_PORT : this.#nextPort + 1;
      if (![...this.#conns.values()].some((c) => c.localPort === p)) return p;
    }
  }

  #newConnection(localPort: number, peerPort: number, conn: Deno.UnixConn): VsockConnection {
    const c = new VsockConnection(localPort, peerPort, conn, this);
    this.#conns.set(c.key, c);
    return c;
  }
}
