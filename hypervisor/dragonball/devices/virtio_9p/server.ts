/**
 * A 9P2000.L file server for one host directory, for the Linux client
 * (`trans=virtio,version=9p2000.L`). It is transport-free:
 * {@link P9Server.handle} takes one request message and returns one reply,
 * so it is tested without a VM. The pieces: the fid table and confinement
 * checks (fids.ts), attributes (attrs.ts), and the operations, dispatched
 * from a table by request type (ops.ts, file_ops.ts).
 *
 * Confinement: a fid is a list of names below the shared root, never a host
 * path. Walks refuse `/` in names, stop `..` at the root and never descend
 * through a symlink; before each host call the real path of the parent
 * directory is checked to lie inside the root, and calls that would follow a
 * final symlink (open, chmod, chown, truncate, utimes) refuse symlinks. The
 * guest's requests are served one at a time, so the guest cannot race its own
 * checks; changes made concurrently on the host side are trusted.
 *
 * Creation follows the rules both file servers share (guest_fs_rules.ts):
 * no device node is made and no setuid/setgid bit is set, and the fid
 * table is bounded (ENFILE past its limit).
 *
 * Ownership: files are created as the VMM process's user (no uid/gid
 * mapping); the guest's chown requests are applied as asked (the kernel
 * clears setuid/setgid on a chown, and neither can be set again).
 * @module
 */
import { getLogger } from "../../../../common/log.ts";
import { E, errnoOf, P9Error } from "./errno.ts";
import { FidTable, ShareRoot } from "./fids.ts";
import { OPERATIONS } from "./ops.ts";
import { MAX_MSIZE, type Session } from "./session.ts";
import { HEADER_SIZE, lerror, Reader, readHeader, WireError, Writer } from "./wire.ts";

export { MAX_MSIZE } from "./session.ts";

const log = getLogger("hypervisor.dragonball.devices.virtio_9p");

/** Options of {@link P9Server}. */
export interface P9ServerOptions {
  /** Refuse every request that changes the tree. */
  readOnly?: boolean;
  /** Most fids the guest may hold (default 65536, fids.ts MAX_FIDS). */
  maxFids?: number;
}

/** A 9P2000.L server rooted at a host directory. */
export class P9Server {
  readonly root: string;
  readonly #session: Session;

  /** Serves `root`, which must be an existing directory. */
  constructor(root: string, opts: P9ServerOptions = {}) {
    this.#session = {
      root: new ShareRoot(root, opts.readOnly ?? false),
      fids: new FidTable(opts.maxFids),
      msize: 8192,
    };
    this.root = root;
  }

  /** The negotiated message size. */
  get msize(): number {
    return this.#session.msize;
  }

  /** Number of fids in use (tests, diagnostics). */
  get fidCount(): number {
    return this.#session.fids.size;
  }

  /** Forgets every fid and closes its file (device reset, new session). */
  reset(): void {
    this.#session.fids.clear();
  }

  /**
   * Serves one request; the reply is at most `maxReply` bytes (the room the
   * driver gave for it). A malformed request gets an error reply.
   */
  handle(request: Uint8Array, maxReply = MAX_MSIZE): Uint8Array {
    let tag = 0;
    try {
      const r = new Reader(request);
      const h = readHeader(r);
      tag = h.tag;
      const body = new Reader(request.subarray(HEADER_SIZE, h.size));
      const op = OPERATIONS.get(h.type);
      if (!op) throw new P9Error(E.EOPNOTSUPP, `9P message type ${h.type} is not supported`);
      const s = this.#session;
      return op(s, body, new Writer(h.type + 1, tag), Math.min(maxReply, s.msize));
    } catch (e) {
      // Failures are routine (a walk to a missing name): debug level only.
      const errno = e instanceof WireError ? E.EPROTO : errnoOf(e);
      log.debug("9p request type {type} failed with errno {errno}: {error}", {
        type: request[4],
        errno,
        error: String(e),
      });
      return lerror(tag, errno);
    }
  }
}
