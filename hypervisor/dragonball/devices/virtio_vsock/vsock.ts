/**
 * virtio-vsock with a hybrid host side (the Firecracker/Dragonball scheme):
 * host programs connect to one Unix socket and write `CONNECT <port>\n`; the
 * VMM opens a stream to that guest port and answers `OK <host port>\n` once
 * the guest accepted, then relays bytes. A guest connecting to host port P
 * is relayed to the Unix socket `<path>_<P>`. Credit-based flow control
 * keeps within the guest's advertised buffer.
 * @module
 */
import { getLogger } from "../../../../common/log.ts";
import type { GuestMemory } from "../../memory.ts";
import { readFromChain, writeToChain } from "../virtio/queue.ts";
import { drainQueue, writableRoom } from "../virtio/drain.ts";
import {
  type ActivateContext,
  readConfigBytes,
  VIRTIO_ID,
  type VirtioDevice,
} from "../virtio/device.ts";
import {
  decodeHeader,
  encodePacket,
  HEADER_SIZE,
  HOST_CID,
  OP,
  parseConnectLine,
  SHUTDOWN_RCV,
  SHUTDOWN_SEND,
  TYPE_STREAM,
  type VsockHeader,
} from "./packet.ts";

const log = getLogger("dragonball.vsock");
const QUEUE_SIZE = 256;
const RX = 0, TX = 1;
/** Our receive buffer, advertised to the guest. */
const BUF_ALLOC = 256 * 1024;
/** Largest payload we put in one packet (Linux posts 4 KiB receive buffers). */
const MAX_PAYLOAD = 4096;
const MAX_TX_PACKET = HEADER_SIZE + 64 * 1024;
const CONNECT_LINE_MAX = 32;
const FIRST_HOST_PORT = 1 << 30;

interface Connection {
  key: string;
  localPort: number;
  peerPort: number;
  conn: Deno.UnixConn;
  established: boolean;
  /** Bytes sent to the guest, and the guest's last advertised buffer state. */
  txCnt: number;
  peerBufAlloc: number;
  peerFwdCnt: number;
  /** Bytes delivered to the host socket (our fwd_cnt), and what we last told the guest. */
  fwdCnt: number;
  fwdReported: number;
  creditWaiter?: () => void;
  writeChain: Promise<void>;
  closed: boolean;
}

/** The vsock device and its hybrid Unix-socket multiplexer. */
export class VirtioVsock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.VSOCK;
  readonly features = 0n;
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE, QUEUE_SIZE];
  readonly #listener: Deno.Listener<Deno.UnixConn>;
  readonly #conns = new Map<string, Connection>();
  readonly #rxPending: Uint8Array<ArrayBuffer>[] = [];
  #ctx?: ActivateContext;
  #nextPort = FIRST_HOST_PORT;
  #closed = false;

  private constructor(
    readonly path: string,
    readonly guestCid: number,
    listener: Deno.Listener<Deno.UnixConn>,
  ) {
    this.#listener = listener;
    void this.#acceptLoop();
  }

  /** Listens on `path` (replacing a stale socket file) for host connections. */
  static listen(path: string, guestCid: number): Promise<VirtioVsock> {
    if (!Number.isInteger(guestCid) || guestCid < 3 || guestCid > 0xffffffff) {
      return Promise.reject(new RangeError(`guest CID ${guestCid} must be at least 3`));
    }
    try {
      if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
    } catch { /* absent */ }
    const listener = Deno.listen({ transport: "unix", path });
    return Promise.resolve(new VirtioVsock(path, guestCid, listener));
  }

  readConfig(offset: number, data: Uint8Array): void {
    const cfg = new Uint8Array(8);
    new DataView(cfg.buffer).setBigUint64(0, BigInt(this.guestCid), true);
    readConfigBytes(cfg, offset, data);
  }

  writeConfig(): void {}

  activate(ctx: ActivateContext): void {
    this.#ctx = ctx;
    this.#flushRx();
  }

  notify(index: number): void {
    if (index === RX) this.#flushRx();
    else if (index === TX) this.#drainTx();
  }

  reset(): void {
    this.#ctx = undefined;
    this.#rxPending.length = 0;
    for (const c of [...this.#conns.values()]) this.#drop(c);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx = undefined;
    for (const c of [...this.#conns.values()]) this.#drop(c);
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    try {
      await Deno.remove(this.path);
    } catch { /* gone */ }
  }

  // --- guest → host -------------------------------------------------------

  #drainTx(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    drainQueue(ctx, TX, (descs) => {
      const bytes = readFromChain(ctx.memory, descs, MAX_TX_PACKET);
      if (bytes.length < HEADER_SIZE) return 0;
      const h = decodeHeader(bytes);
      const payload = bytes.subarray(
        HEADER_SIZE,
        HEADER_SIZE + Math.min(h.len, bytes.length - HEADER_SIZE),
      );
      this.#fromGuest(h, payload);
      return 0;
    }, { onError: (e) => log.warn("vsock tx: {error}", { error: e.message }) });
  }

  #fromGuest(h: VsockHeader, payload: Uint8Array): void {
    if (h.type !== TYPE_STREAM || h.dstCid !== HOST_CID || h.srcCid !== this.guestCid) {
      if (h.op !== OP.RST) this.#sendRst(h.dstPort, h.srcPort);
      return;
    }
    const key = `${h.dstPort}:${h.srcPort}`;
    const c = this.#conns.get(key);
    if (h.op === OP.REQUEST) {
      if (c) this.#sendRst(h.dstPort, h.srcPort);
      else void this.#guestConnect(h);
      return;
    }
    if (!c) {
      if (h.op !== OP.RST) this.#sendRst(h.dstPort, h.srcPort);
      return;
    }
    c.peerBufAlloc = h.bufAlloc;
    c.peerFwdCnt = h.fwdCnt;
    c.creditWaiter?.();
    switch (h.op) {
      case OP.RESPONSE:
        if (!c.established) {
          c.established = true;
          void this.#hostWrite(c, new TextEncoder().encode(`OK ${c.localPort}\n`), false);
          void this.#pump(c);
        }
        break;
      case OP.RW:
        if (c.established && payload.length > 0) void this.#hostWrite(c, payload.slice(), true);
        break;
      case OP.CREDIT_REQUEST:
        this.#send(c, OP.CREDIT_UPDATE);
        break;
      case OP.CREDIT_UPDATE:
        break;
      case OP.SHUTDOWN:
        if (h.flags & SHUTDOWN_SEND) {
          // The guest sends no more: finish writing, then end the host side.
          c.writeChain = c.writeChain.then(() => c.conn.closeWrite()).catch(() => {});
        }
        if ((h.flags & (SHUTDOWN_SEND | SHUTDOWN_RCV)) === (SHUTDOWN_SEND | SHUTDOWN_RCV)) {
          this.#sendRst(c.localPort, c.peerPort);
          void c.writeChain.then(() => this.#drop(c));
        }
        break;
      case OP.RST:
        this.#drop(c);
        break;
    }
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
    c.peerBufAlloc = h.bufAlloc;
    c.peerFwdCnt = h.fwdCnt;
    c.established = true;
    this.#send(c, OP.RESPONSE);
    void this.#pump(c);
  }

  /** Writes guest data to the host socket in order, then credits the guest. */
  #hostWrite(c: Connection, data: Uint8Array, counts: boolean): Promise<void> {
    c.writeChain = c.writeChain.then(async () => {
      if (c.closed) return;
      let off = 0;
      while (off < data.length) off += await c.conn.write(data.subarray(off));
      if (!counts) return;
      c.fwdCnt += data.length;
      if (c.fwdCnt - c.fwdReported >= BUF_ALLOC / 4) this.#send(c, OP.CREDIT_UPDATE);
    }).catch(() => {
      if (!c.closed) {
        this.#sendRst(c.localPort, c.peerPort);
        this.#drop(c);
      }
    });
    return c.writeChain;
  }

  // --- host → guest -------------------------------------------------------

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
    if (port === undefined || this.#closed || !this.#ctx) {
      conn.close();
      return;
    }
    const local = this.#allocatePort();
    const c = this.#newConnection(local, port, conn);
    this.#send(c, OP.REQUEST);
  }

  #allocatePort(): number {
    for (;;) {
      const p = this.#nextPort;
      this.#nextPort = this.#nextPort + 1 >= 2 ** 31 ? FIRST_HOST_PORT : this.#nextPort + 1;
      if (![...this.#conns.values()].some((c) => c.localPort === p)) return p;
    }
  }

  #newConnection(localPort: number, peerPort: number, conn: Deno.UnixConn): Connection {
    const c: Connection = {
      key: `${localPort}:${peerPort}`,
      localPort,
      peerPort,
      conn,
      established: false,
      txCnt: 0,
      peerBufAlloc: 0,
      peerFwdCnt: 0,
      fwdCnt: 0,
      fwdReported: 0,
      writeChain: Promise.resolve(),
      closed: false,
    };
    this.#conns.set(c.key, c);
    return c;
  }

  /** Relays host socket bytes to the guest within its credit. */
  async #pump(c: Connection): Promise<void> {
    const buf = new Uint8Array(MAX_PAYLOAD);
    for (;;) {
      let credit = c.peerBufAlloc - (c.txCnt - c.peerFwdCnt);
      while (credit <= 0 && !c.closed) {
        await new Promise<void>((r) => c.creditWaiter = r);
        c.creditWaiter = undefined;
        credit = c.peerBufAlloc - (c.txCnt - c.peerFwdCnt);
      }
      if (c.closed) return;
      let n: number | null;
      try {
        n = await c.conn.read(buf.subarray(0, Math.min(MAX_PAYLOAD, credit)));
      } catch {
        n = null;
      }
      if (c.closed) return;
      if (n === null) {
        // The host half-closed: it sends no more but may still read the guest's reply.
        this.#send(c, OP.SHUTDOWN, undefined, SHUTDOWN_SEND);
        return;
      }
      c.txCnt += n;
      this.#send(c, OP.RW, buf.slice(0, n));
    }
  }

  #header(localPort: number, peerPort: number, op: number, flags = 0, c?: Connection): VsockHeader {
    return {
      srcCid: HOST_CID,
      dstCid: this.guestCid,
      srcPort: localPort,
      dstPort: peerPort,
      len: 0,
      type: TYPE_STREAM,
      op,
      flags,
      bufAlloc: BUF_ALLOC,
      fwdCnt: c?.fwdCnt ?? 0,
    };
  }

  #send(c: Connection, op: number, payload?: Uint8Array, flags = 0): void {
    c.fwdReported = c.fwdCnt;
    this.#queueRx(encodePacket(this.#header(c.localPort, c.peerPort, op, flags, c), payload));
  }

  #sendRst(localPort: number, peerPort: number): void {
    this.#queueRx(encodePacket(this.#header(localPort, peerPort, OP.RST)));
  }

  #queueRx(packet: Uint8Array<ArrayBuffer>): void {
    this.#rxPending.push(packet);
    this.#flushRx();
  }

  /** Moves queued packets into the guest's receive buffers. */
  #flushRx(): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    drainQueue(ctx, RX, (descs) => {
      const packet = this.#rxPending.shift()!;
      const room = writableRoom(descs);
      if (room < packet.length) {
        log.warn("vsock rx buffer of {room} bytes is too small for {len}", {
          room,
          len: packet.length,
        });
        return 0;
      }
      return writeToChain(ctx.memory, descs, packet);
    }, { while: () => this.#rxPending.length > 0 });
  }

  #drop(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    this.#conns.delete(c.key);
    c.creditWaiter?.();
    try {
      c.conn.close();
    } catch { /* already closed */ }
  }
}

/** For tests: the guest memory type the device writes into. */
export type { GuestMemory };
