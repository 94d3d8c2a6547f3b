/**
 * A FUSE server for one host directory, as the Linux virtiofs driver speaks
 * it. Transport-free: {@link FuseServer.handle} takes one request and
 * returns one reply (or none, for forgets), so it is tested without a VM.
 * The pieces: the wire format (wire.ts), the bounded inode and handle
 * tables (nodes.ts), the confined lookup (session.ts) and the operations
 * (entry_ops.ts, file_ops.ts, xattr_ops.ts).
 *
 * Confinement: the guest names files only by node ids the server handed
 * out, each an O_PATH fd below the shared directory, plus one plain name;
 * every lookup is an openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS, so no symlink, `..` or magic link leads out, and
 * hard links are made only from inodes the guest holds. Device nodes,
 * setuid/setgid bits and non-`user.` extended attributes are refused.
 * Requests are served one at a time, so the guest cannot race its own
 * checks. DAX (FUSE_SETUPMAPPING) is not supported.
 *
 * Ownership: when the VMM runs as root, a new file gets the uid and gid of
 * the guest user that created it (as virtiofsd does), and the guest's chown
 * requests are applied; the guest kernel checks permissions itself (the
 * virtiofs mount implies default_permissions).
 * @module
 */
import { getLogger } from "../../../../common/log.ts";
import { closeAt, geteuid, OF, openat2, statAt } from "../../../../ffi/fs_at.ts";
import { SysError } from "../../../../ffi/errno.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";
import { E, errnoOf, GuestFsError } from "../virtio/host_errno.ts";
import { ENTRY_OPS } from "./entry_ops.ts";
import { FILE_OPS } from "./file_ops.ts";
import { HandleTable, InodeTable } from "./nodes.ts";
import { MAX_WRITE, type Operation, type Session } from "./session.ts";
import { BodyReader, BodyWriter, errorReply, FuseWireError, IN_HEADER } from "./wire.ts";
import { okReply, okReplyInPlace, OP, OUT_HEADER, parseInHeader, timeout } from "./wire.ts";
import { XATTR_OPS } from "./xattr_ops.ts";

const log = getLogger("hypervisor.dragonball.devices.virtio_fs");

/** Options of {@link FuseServer}. */
export interface FuseServerOptions {
  /** Refuse every request that changes the tree. */
  readOnly?: boolean;
  /** `virtio_fs_cache`: never (no caching), auto (1 s) or always (a day). Default never. */
  cache?: string;
  /** Most inodes the guest may hold (each an fd; default from {@link defaultLimits}). */
  maxInodes?: number;
  /** Most files and directories the guest may have open (each an fd). */
  maxHandles?: number;
}

/**
 * Table limits that fit this process's open-file limit: 65,536 inodes and
 * 16,384 handles where fds are plentiful (containerd gives its shims a
 * million), less where they are not, keeping a quarter of the fds for the
 * rest of the shim so a guest that fills its tables cannot starve it.
 */
export function defaultLimits(
  limits = readLimits(),
): { maxInodes: number; maxHandles: number } {
  const m = limits.match(/^Max open files\s+(\d+|unlimited)/m);
  const soft = !m ? 1024 : m[1] === "unlimited" ? 1 << 30 : Number(m[1]);
  const usable = Math.floor(soft * 0.75);
  return {
    maxInodes: Math.max(16, Math.min(65536, Math.floor(usable * 0.8))),
    maxHandles: Math.max(16, Math.min(16384, Math.floor(usable * 0.2))),
  };
}

function readLimits(): string {
  try {
    return Deno.readTextFileSync("/proc/self/limits");
  } catch {
    return ""; // no /proc: the small default
  }
}

/** Entry and attribute time-outs in seconds by `virtio_fs_cache`, as virtiofsd sets them. */
const CACHE_TIMEOUTS: Readonly<Record<string, number>> = {
  never: 0,
  auto: 1,
  always: 86400,
};

const FOPEN = { DIRECT_IO: 1, KEEP_CACHE: 2 } as const;
/** FUSE_INIT flags the server offers (it keeps those the guest offered too). */
const INIT = {
  // Readahead in the background, several reads queued at once (as virtiofsd's libfuse
  // agrees by default): one notification serves them all. Served one at a time here.
  ASYNC_READ: 1 << 0,
  ATOMIC_O_TRUNC: 1 << 3,
  BIG_WRITES: 1 << 5,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
  SUBMOUNTS: 1 << 27,
  INIT_EXT: 1 << 30,
} as const;
/** flags2 bit 36-32: mmap of direct-I/O files (cache=never). */
const INIT2_DIRECT_IO_ALLOW_MMAP = 1 << 4;
const OFFERED = Object.values(INIT).reduce((a, b) => a | b, 0);
const KERNEL_MAJOR = 7;
const KERNEL_MINOR = 38;

const OPERATIONS: ReadonlyMap<number, Operation> = new Map([
  ...ENTRY_OPS,
  ...FILE_OPS,
  ...XATTR_OPS,
]);

/** Opcodes refused with ENOSYS, so the guest stops sending them: not served by design. */
const NOT_SERVED: ReadonlyMap<number, string> = new Map([
  [OP.SETUPMAPPING, "DAX windows are not supported"],
  [OP.REMOVEMAPPING, "DAX windows are not supported"],
  [OP.ACCESS, "permissions are checked by the guest (default_permissions)"],
  [OP.SYNCFS, "syncfs is not supported; files are synced by fsync"],
]);

/** A FUSE server rooted at a host directory. */
export class FuseServer {
  readonly #s: Session;
  #faults = 0;

  /** Serves `root`, which must be an existing directory. */
  constructor(readonly root: string, opts: FuseServerOptions = {}) {
    const cache = opts.cache || "never";
    const secs = CACHE_TIMEOUTS[cache];
    if (secs === undefined) {
      throw new InvalidArgumentError(
        `virtio_fs_cache "${cache}" is not one of never, auto, always`,
      );
    }
    const limits = defaultLimits();
    const rootFd = openat2(-100, root, OF.PATH | OF.DIRECTORY, 0, 0);
    let inodes: InodeTable;
    try {
      inodes = new InodeTable(rootFd, statAt(rootFd), opts.maxInodes ?? limits.maxInodes);
    } catch (e) {
      closeAt(rootFd);
      throw e;
    }
    this.#s = {
      rootPath: root,
      inodes,
      handles: new HandleTable(opts.maxHandles ?? limits.maxHandles),
      readOnly: opts.readOnly ?? false,
      asRoot: geteuid() === 0,
      entryTimeout: timeout(secs),
      attrTimeout: timeout(secs),
      openFlags: cache === "never" ? FOPEN.DIRECT_IO : cache === "always" ? FOPEN.KEEP_CACHE : 0,
      initialized: false,
      readBuffer: new Uint8Array(OUT_HEADER + MAX_WRITE),
    };
  }

  /** Inodes held (the root included) and handles open (tests, diagnostics). */
  get counts(): { inodes: number; handles: number } {
    return { inodes: this.#s.inodes.size, handles: this.#s.handles.size };
  }

  /** Requests that failed on a fault of the server itself, not a refusal or a host error (tests). */
  get faults(): number {
    return this.#faults;
  }

  /** Forgets every inode and handle the guest held (device reset, FUSE_DESTROY). */
  reset(): void {
    this.#s.handles.clear();
    this.#s.inodes.clear();
    this.#s.initialized = false;
  }

  /** Closes every fd, the root's too; the server serves nothing after. */
  close(): void {
    this.reset();
    this.#s.inodes.clear(true);
  }

  /**
   * Serves one request; the reply is at most `room` bytes (the room the
   * driver gave). Returns null when the request takes no reply (forgets).
   * A malformed or refused request gets an error reply.
   */
  handle(request: Uint8Array<ArrayBuffer>, room: number): Uint8Array | null {
    let unique = 0n;
    let opcode = 0;
    try {
      // Echo the request's unique even when the rest of its header is wrong.
      if (request.length >= 16) {
        unique = new DataView(request.buffer, request.byteOffset).getBigUint64(8, true);
      }
      const h = parseInHeader(request);
      opcode = h.opcode;
      const r = new BodyReader(request.subarray(IN_HEADER, h.len));
      const body = this.#dispatch(h.opcode, h, r, room - OUT_HEADER);
      if (body === null) return null;
      if (OUT_HEADER + body.length > room) {
        throw new GuestFsError(E.ERANGE, `reply of ${body.length} bytes does not fit ${room}`);
      }
      // Read data already sits after room for the header in the read buffer.
      const read = this.#s.readBuffer;
      if (body.buffer === read.buffer && body.byteOffset === OUT_HEADER) {
        return okReplyInPlace(unique, read, body.length);
      }
      return okReply(unique, body);
    } catch (e) {
      if (opcode === OP.FORGET || opcode === OP.BATCH_FORGET) return null;
      const errno = e instanceof FuseWireError ? E.EINVAL : errnoOf(e);
      if (!(e instanceof FuseWireError || e instanceof GuestFsError || e instanceof SysError)) {
        // Not a refusal or a host error: a fault of the server itself, still answered.
        this.#faults++;
        log.warn("FUSE opcode {opcode} hit an internal error: {error}", {
          opcode,
          error: String(e),
        });
      }
      // Failures are routine (a lookup of a missing name): debug level only.
      log.debug("FUSE opcode {opcode} failed with errno {errno}: {error}", {
        opcode,
        errno,
        error: String(e),
      });
      return errorReply(unique, errno);
    }
  }

  #dispatch(op: number, h: Parameters<Operation>[1], r: BodyReader, room: number) {
    const s = this.#s;
    if (op === OP.INIT) return this.#init(r);
    if (!s.initialized) throw new GuestFsError(E.EIO, `FUSE opcode ${op} before FUSE_INIT`);
    if (op === OP.DESTROY) {
      this.reset();
      return new Uint8Array(0);
    }
    const why = NOT_SERVED.get(op);
    if (why) throw new GuestFsError(E.ENOSYS, why);
    const fn = OPERATIONS.get(op);
    if (!fn) throw new GuestFsError(E.ENOSYS, `FUSE opcode ${op} is not supported`);
    return fn(s, h, r, Math.max(0, room));
  }

  #init(r: BodyReader): Uint8Array {
    const major = r.u32("major");
    const minor = r.u32("minor");
    const readahead = r.u32("max_readahead");
    const flags = r.u32("flags");
    const flags2 = flags & INIT.INIT_EXT && r.remaining >= 4 ? r.u32("flags2") : 0;
    if (major < KERNEL_MAJOR) {
      throw new GuestFsError(E.EPROTO, `FUSE major version ${major} is too old`);
    }
    const w = new BodyWriter().u32(KERNEL_MAJOR);
    // A newer major: answer ours alone; the guest retries in our version.
    if (major > KERNEL_MAJOR) return w.u32(KERNEL_MINOR).zeros(56).finish();
    this.reset();
    this.#s.initialized = true;
    const agreed = flags & OFFERED;
    const agreed2 = this.#s.openFlags & FOPEN.DIRECT_IO ? flags2 & INIT2_DIRECT_IO_ALLOW_MMAP : 0;
    return w.u32(Math.min(minor, KERNEL_MINOR)).u32(readahead).u32(agreed)
      .u16(64) // max_background
      .u16(48) // congestion_threshold
      .u32(MAX_WRITE)
      .u32(1) // time_gran: nanoseconds
      .u16(MAX_WRITE / 4096) // max_pages
      .u16(0) // map_alignment: no DAX
      .u32(agreed2)
      .u32(0) // max_stack_depth
      .zeros(24)
      .finish();
  }
}
