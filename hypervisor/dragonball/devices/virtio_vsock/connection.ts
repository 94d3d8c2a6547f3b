/**
 * One vsock stream between a host Unix socket and a guest port (like
 * Firecracker's `VsockConnection`): credit-based flow control both ways
 * (we never send more than the guest's advertised buffer; we credit the
 * guest as the host socket takes its bytes), host writes kept in order, and
 * the host side's bytes pumped to the guest within its credit.
 * @module
 */
import {
  encodePacket,
  HOST_CID,
  OP,
  SHUTDOWN_SEND,
  TYPE_STREAM,
  type VsockHeader,
} from "./packet.ts";

/** Our receive buffer, advertised to the guest. */
export const BUF_ALLOC = 256 * 1024;
/** Largest payload we put in one packet (Linux posts 4 KiB receive buffers). */
const MAX_PAYLOAD = 4096;

/** Encodes a host → guest stream packet. */
export function hostPacket(
  guestCid: number,
  localPort: number,
  peerPort: number,
  op: number,
  opts: { flags?: number; fwdCnt?: number; payload?: Uint8Array } = {},
): Uint8Array<ArrayBuffer> {
  const h: VsockHeader = {
    srcCid: HOST_CID,
    dstCid: guestCid,
    srcPort: localPort,
    dstPort: peerPort,
    len: 0,
    type: TYPE_STREAM,
    op,
    flags: opts.flags ?? 0,
    bufAlloc: BUF_ALLOC,
    fwdCnt: opts.fwdCnt ?? 0,
  };
  return encodePacket(h, opts.payload);
}

/** What a connection needs from its multiplexer. */
export interface ConnectionLink {
  readonly guestCid: number;
  /** Queues a packet for the guest's receive queue. */
  toGuest(packet: Uint8Array<ArrayBuffer>): void;
  /** The connection was dropped: forget it. */
  ended(c: VsockConnection): void;
}

/** One host ↔ guest stream. */
export class VsockConnection {
  /** `<local port>:<peer port>`, the multiplexer's key. */
  readonly key: string;
  established = false;
  /** Bytes sent to the guest, and the guest's last advertised buffer state. */
  txCnt = 0;
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  /** Bytes delivered to the host socket (our fwd_cnt), and what we last told the guest. */
  fwdCnt = 0;
  fwdReported = 0;
  closed = false;
  #creditWaiter?: () => void;
  #writeChain: Promise<void> = Promise.resolve();
  readonly #link: ConnectionLink;

  constructor(
    readonly localPort: number,
    readonly peerPort: number,
    readonly conn: Deno.UnixConn,
    link: ConnectionLink,
  ) {
    this.key = `${localPort}:${peerPort}`;
    this.#link = link;
  }

  /** Takes the guest's buffer state from a packet header and wakes a pump waiting for credit. */
  credit(h: VsockHeader): void {
    this.peerBufAlloc = h.bufAlloc;
    this.peerFwdCnt = h.fwdCnt;
    this.#creditWaiter?.();
  }

  /** Sends a packet of this stream to the guest, reporting our fwd_cnt. */
  send(op: number, payload?: Uint8Array, flags = 0): void {
    this.fwdReported = this.fwdCnt;
    this.#link.toGuest(
      hostPacket(this.#link.guestCid, this.localPort, this.peerPort, op, {
        flags,
        fwdCnt: this.fwdCnt,
        payload,
      }),
    );
  }

  /** Resets the stream on the guest side. */
  rst(): void {
    this.#link.toGuest(hostPacket(this.#link.guestCid, this.localPort, this.peerPort, OP.RST));
  }

  /** Writes guest data to the host socket in order, then credits the guest (when `counts`). */
  hostWrite(data: Uint8Array, counts: boolean): Promise<void> {
    this.#writeChain = this.#writeChain.then(async () => {
      if (this.closed) return;
      let off = 0;
      while (off < data.length) off += await this.conn.write(data.subarray(off));
      if (!counts) return;
      this.fwdCnt += data.length;
      if (this.fwdCnt - this.fwdReported >= BUF_ALLOC / 4) this.send(OP.CREDIT_UPDATE);
    }).catch(() => {
      if (!this.closed) {
        this.rst();
        this.drop();
      }
    });
    return this.#writeChain;
  }

  /** Ends the host side once the pending writes are done (the guest sends no more). */
  closeWriteWhenWritten(): void {
    this.#writeChain = this.#writeChain.then(() => this.conn.closeWrite()).catch(() => {});
  }

  /** Drops the stream once the pending writes are done. */
  dropWhenWritten(): void {
    void this.#writeChain.then(() => this.drop());
  }

  /** Relays host socket bytes to the guest within its credit. */
  async pump(): Promise<void> {
    const buf = new Uint8Array(MAX_PAYLOAD);
    for (;;) {
      let credit = this.peerBufAlloc - (this.txCnt - this.peerFwdCnt);
      while (credit <= 0 && !this.closed) {
        await new Promise<void>((r) => this.#creditWaiter = r);
        this.#creditWaiter = undefined;
        credit = this.peerBufAlloc - (this.txCnt - this.peerFwdCnt);
      }
      if (this.closed) return;
      let n: number | null;
      try {
        n = await this.conn.read(buf.subarray(0, Math.min(MAX_PAYLOAD, credit)));
      } catch {
        n = null;
      }
      if (this.closed) return;
      if (n === null) {
        // The host half-closed: it sends no more but may still read the guest's reply.
        this.send(OP.SHUTDOWN, undefined, SHUTDOWN_SEND);
        return;
      }
      this.txCnt += n;
      this.send(OP.RW, buf.slice(0, n));
    }
  }

  /** Closes the stream for good; safe to call twice. */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.#link.ended(this);
    this.#creditWaiter?.();
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}
