/**
 * The virtio-fs server's two bounded tables: inodes (what the guest has
 * looked up, each held as an O_PATH fd below the shared directory, so a
 * later call never resolves a path the guest names again) and handles (the
 * files and directories it has open). A node id or handle is a counter the
 * server hands out, never a host number, so the guest can name only what a
 * lookup gave it; both tables refuse new entries past their limit (ENFILE).
 * @module
 */
import { closeAt, S, type Statx } from "../../../../ffi/fs_at.ts";
import { E, GuestFsError } from "../virtio/host_errno.ts";

/** The node id of the shared directory. */
export const ROOT_ID = 1n;

/** One looked-up host file. */
export interface Inode {
  readonly id: bigint;
  /** O_PATH | O_NOFOLLOW fd of the file (a symlink stays a symlink). */
  readonly fd: number;
  /** File type bits (S.IFMT) at lookup; the type of an inode never changes. */
  readonly type: number;
  /** Host device of the file system holding it (a change below a directory is a submount). */
  readonly dev: bigint;
  readonly key: string;
  /** Lookups the guest holds; at 0 the inode is forgotten. */
  refs: bigint;
}

/** The inodes the guest holds, by node id and by host identity. */
export class InodeTable {
  readonly #byId = new Map<bigint, Inode>();
  readonly #byKey = new Map<string, Inode>();
  #next = ROOT_ID + 1n;

  /** Holds the root's O_PATH fd as node {@link ROOT_ID}; at most `max` inodes. */
  constructor(rootFd: number, rootStat: Statx, readonly max: number) {
    const root = {
      id: ROOT_ID,
      fd: rootFd,
      type: S.IFDIR,
      dev: rootStat.dev,
      key: keyOf(rootStat),
      refs: 1n,
    };
    this.#byId.set(ROOT_ID, root);
    this.#byKey.set(root.key, root);
  }

  /** Inodes held, the root included. */
  get size(): number {
    return this.#byId.size;
  }

  /** Inode `id`; EBADF when the guest never got it or forgot it. */
  get(id: bigint): Inode {
    const n = this.#byId.get(id);
    if (!n) throw new GuestFsError(E.EBADF, `node ${id} is unknown`);
    return n;
  }

  /**
   * Counts one more lookup of the file `fd` stands for: the inode already
   * held (closing `fd`), or a new one that owns `fd`. At the limit the fd
   * is closed and ENFILE thrown.
   */
  hold(fd: number, st: Statx): Inode {
    const key = keyOf(st);
    const known = this.#byKey.get(key);
    if (known) {
      closeAt(fd);
      known.refs++;
      return known;
    }
    if (this.#byId.size >= this.max) {
      closeAt(fd);
      throw new GuestFsError(E.ENFILE, `inode table is full (${this.max} inodes)`);
    }
    const n = { id: this.#next++, fd, type: st.mode & S.IFMT, dev: st.dev, key, refs: 1n };
    this.#byId.set(n.id, n);
    this.#byKey.set(key, n);
    return n;
  }

  /** The guest drops `count` lookups of `id`; an unknown id is ignored (forget has no reply). */
  forget(id: bigint, count: bigint): void {
    const n = this.#byId.get(id);
    if (!n || id === ROOT_ID) return;
    n.refs -= count;
    if (n.refs > 0n) return;
    this.#byId.delete(id);
    if (this.#byKey.get(n.key) === n) this.#byKey.delete(n.key);
    closeAt(n.fd);
  }

  /** Forgets every inode but the root (a new session); `alsoRoot` closes the root too. */
  clear(alsoRoot = false): void {
    for (const n of this.#byId.values()) {
      if (n.id === ROOT_ID && !alsoRoot) continue;
      closeAt(n.fd);
      this.#byId.delete(n.id);
      if (this.#byKey.get(n.key) === n) this.#byKey.delete(n.key);
    }
  }
}

/** The host identity of a file (device and inode number). */
function keyOf(st: Statx): string {
  return `${st.dev}:${st.ino}`;
}

/** One open file or directory. */
interface Handle {
  readonly fd: number;
  readonly node: Inode;
  readonly dir: boolean;
}

/** The guest's open files, by handle number. */
export class HandleTable {
  readonly #byId = new Map<bigint, Handle>();
  #next = 1n;

  /** At most `max` open handles. */
  constructor(readonly max: number) {}

  /** Handles open. */
  get size(): number {
    return this.#byId.size;
  }

  /** Takes ownership of `fd`; at the limit the fd is closed and ENFILE thrown. */
  add(fd: number, node: Inode, dir: boolean): bigint {
    if (this.#byId.size >= this.max) {
      closeAt(fd);
      throw new GuestFsError(E.ENFILE, `handle table is full (${this.max} open files)`);
    }
    const id = this.#next++;
    this.#byId.set(id, { fd, node, dir });
    return id;
  }

  /** Handle `id` of the kind asked; EBADF otherwise. */
  get(id: bigint, dir: boolean): Handle {
    const h = this.#byId.get(id);
    if (!h || h.dir !== dir) {
      throw new GuestFsError(E.EBADF, `${dir ? "directory" : "file"} handle ${id} is not open`);
    }
    return h;
  }

  /** Closes handle `id`. */
  release(id: bigint, dir: boolean): void {
    const h = this.get(id, dir);
    this.#byId.delete(id);
    closeAt(h.fd);
  }

  /** Closes every handle. */
  clear(): void {
    for (const h of this.#byId.values()) closeAt(h.fd);
    this.#byId.clear();
  }
}
