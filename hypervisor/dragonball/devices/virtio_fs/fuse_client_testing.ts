/**
 * A test-only virtiofs guest driver: a {@link VirtioFs} device activated on
 * heap-backed guest memory with its two queues, and requests written and
 * submitted the way the Linux driver does (request in readable buffers, room
 * for the reply in writable ones). Every reply is checked to be well formed
 * before a test sees it.
 * @module
 */
import { InternalError } from "../../../../common/errors.ts";
import { GuestMemory } from "../../memory.ts";
import { TestDriver } from "../virtio/driver_testing.ts";
import type { FuseServerOptions } from "./server.ts";
import { VirtioFs } from "./virtio_fs.ts";
import { BodyWriter, IN_HEADER, OP, OUT_HEADER } from "./wire.ts";

const MEMORY = 8 << 20;
const REQUEST_AT = 0x100000;
const REPLY_AT = 0x500000;
/** Most bytes a request may take in this memory layout. */
export const MAX_TEST_REQUEST = REPLY_AT - REQUEST_AT;

/** One reply as the guest reads it. */
export interface Reply {
  /** Bytes the device said it wrote (the used element's length). */
  used: number;
  /** 0, or the negative errno. */
  error: number;
  unique: bigint;
  body: Uint8Array;
}

/** A guest driver for one virtio-fs device on a temporary share. */
export class FuseTestClient {
  readonly device: VirtioFs;
  readonly memory = GuestMemory.fromBuffers([[0, MEMORY]]);
  readonly #hiprio = new TestDriver(16, this.memory, 0);
  readonly #requests = new TestDriver(16, this.memory, 0x10000);
  #unique = 1n;

  constructor(readonly root: string, opts: FuseServerOptions = {}) {
    this.device = new VirtioFs("kataShared", root, opts);
    this.device.activate({
      memory: this.memory,
      queues: [this.#hiprio.queue, this.#requests.queue],
      features: 1n << 32n,
      signalUsed: () => {},
    });
  }

  /** A request: the in header (len, opcode, unique, nodeid, uid, gid, pid) then `body`. */
  message(opcode: number, nodeid: bigint, body: Uint8Array, unique = this.#unique++): Uint8Array {
    const w = new BodyWriter().u32(IN_HEADER + body.length).u32(opcode).u64(unique).u64(nodeid)
      .u32(1000).u32(1000).u32(42).u32(0);
    return w.bytes(body).finish();
  }

  /** Submits raw request bytes on the request queue; checks and returns the reply. */
  raw(request: Uint8Array, room = 1 << 20, split = 0): Reply {
    const mem = this.memory;
    mem.write(REQUEST_AT, request);
    const bufs = [{ addr: REQUEST_AT, len: request.length }];
    if (split > 0) {
      for (let off = 0; off < room; off += split) {
        bufs.push({ addr: REPLY_AT + off, len: Math.min(split, room - off) });
      }
    } else if (room > 0) bufs.push({ addr: REPLY_AT, len: room });
    const before = this.#requests.usedIdx;
    this.#requests.addChain(bufs.map((b, i) => ({ ...b, write: i > 0 })));
    this.device.notify(1);
    if (this.#requests.usedIdx !== ((before + 1) & 0xffff)) {
      throw new InternalError("The device did not return the chain");
    }
    const used = this.#requests.used(before).len;
    if (used === 0) return { used, error: 0, unique: 0n, body: new Uint8Array(0) };
    const reply = mem.read(REPLY_AT, used);
    const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
    const len = v.getUint32(0, true);
    const error = v.getInt32(4, true);
    if (used < OUT_HEADER || len !== used || used > room) {
      throw new InternalError(
        `Malformed reply: header length ${len}, ${used} bytes used, room ${room}`,
      );
    }
    if (error > 0 || error < -4095 || (error !== 0 && len !== OUT_HEADER)) {
      throw new InternalError(`Malformed reply: error ${error} with length ${len}`);
    }
    return { used, error, unique: v.getBigUint64(8, true), body: reply.slice(OUT_HEADER) };
  }

  /** Sends a request on the request queue. */
  call(
    opcode: number,
    nodeid: bigint,
    body: Uint8Array = new Uint8Array(0),
    room = 1 << 20,
  ): Reply {
    const msg = this.message(opcode, nodeid, body);
    const reply = this.raw(msg, room);
    const unique = new DataView(msg.buffer).getBigUint64(8, true);
    if (reply.used > 0 && reply.unique !== unique) {
      throw new InternalError(`Reply unique ${reply.unique} does not match request ${unique}`);
    }
    return reply;
  }

  /** Like {@link call}, but fails unless the reply is a success; returns its body. */
  ok(opcode: number, nodeid: bigint, body: Uint8Array = new Uint8Array(0)): DataView {
    const r = this.call(opcode, nodeid, body);
    if (r.error !== 0) {
      throw new InternalError(`FUSE opcode ${opcode} failed with errno ${-r.error}`);
    }
    return new DataView(r.body.buffer, r.body.byteOffset, r.body.length);
  }

  /** Sends a request on the high-priority queue (forgets); returns the bytes used. */
  hiprio(opcode: number, nodeid: bigint, body: Uint8Array): number {
    const msg = this.message(opcode, nodeid, body);
    this.memory.write(REQUEST_AT, msg);
    const before = this.#hiprio.usedIdx;
    this.#hiprio.addChain([{ addr: REQUEST_AT, len: msg.length }]);
    this.device.notify(0);
    return this.#hiprio.used(before).len;
  }

  /** FUSE_INIT as Linux 6.x sends it; returns the init_out body. */
  init(flags = 0xffffffff, flags2 = 0xffffffff): DataView {
    const body = new BodyWriter().u32(7).u32(38).u32(1 << 20).u32(flags).u32(flags2).zeros(44);
    return this.ok(OP.INIT, 0n, body.finish());
  }

  /** The node id in an entry reply. */
  static nodeOf(entry: DataView): bigint {
    return entry.getBigUint64(0, true);
  }

  /** The mode in an entry reply. */
  static modeOf(entry: DataView): number {
    return entry.getUint32(40 + 60, true);
  }

  close(): void {
    this.device.close();
  }
}

/** A name as FUSE sends it: the bytes and a NUL. */
export function fuseName(...names: string[]): Uint8Array {
  return nulJoin(names);
}

function nulJoin(names: string[]): Uint8Array {
  const parts = names.map((n) => new TextEncoder().encode(n));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length + 1;
  }
  return out;
}

/** `struct` bytes followed by NUL-terminated names. */
export function withNames(head: BodyWriter, ...names: string[]): Uint8Array {
  return head.bytes(nulJoin(names)).finish();
}
