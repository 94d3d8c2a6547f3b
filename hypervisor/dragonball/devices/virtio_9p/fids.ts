/**
 * The 9p server's fid table and its confinement checks. A fid is a list of
 * names below the shared root, never a host path: names are single path
 * components (no `/`, no `..` past the root), and before each host call the
 * real path of the parent directory is checked to lie inside the root, so a
 * directory replaced by a symlink since the walk does not lead out. Calls
 * that would follow a final symlink refuse symlinks.
 * @module
 */
import { E, P9Error } from "./errno.ts";
import type { Qid } from "./wire.ts";
import { InvalidArgumentError } from "../../../../common/errors.ts";

/** One entry of a directory listing. */
export interface DirEntry {
  name: string;
  qid: Qid;
  type: number;
}

/** One fid: a place below the root, maybe opened. */
export interface Fid {
  parts: string[];
  file?: Deno.FsFile;
  /** Set once Tlopen succeeded on a directory. */
  dirOpen?: boolean;
  /** Directory listing taken at the first Treaddir at offset 0. */
  entries?: DirEntry[];
}

/** Most fids one session may hold by default (each costs memory, an open one an fd). */
const MAX_FIDS = 65536;

/** The fids of one 9p session, by number; at most `max` of them. */
export class FidTable {
  readonly #fids = new Map<number, Fid>();

  constructor(readonly max = MAX_FIDS) {}

  /** Number of fids in use. */
  get size(): number {
    return this.#fids.size;
  }

  /** Fid `id`; EBADF when it is unknown. */
  get(id: number): Fid {
    const f = this.#fids.get(id);
    if (!f) throw new P9Error(E.EBADF, `Unknown fid ${id}`);
    return f;
  }

  /** Whether `id` is in use. */
  has(id: number): boolean {
    return this.#fids.has(id);
  }

  /** Adds fid `id`; EBADF when it is in use, ENFILE when the table is full. */
  add(id: number, f: Fid): void {
    if (this.#fids.has(id)) throw new P9Error(E.EBADF, `fid ${id} is in use`);
    if (this.#fids.size >= this.max) {
      throw new P9Error(E.ENFILE, `fid table is full (${this.max} fids)`);
    }
    this.#fids.set(id, f);
  }

  /** Closes fid `id`'s file and forgets the fid. */
  clunk(id: number): Fid {
    const f = this.get(id);
    closeFid(f);
    this.#fids.delete(id);
    return f;
  }

  /** Forgets every fid and closes its file. */
  clear(): void {
    for (const f of this.#fids.values()) closeFid(f);
    this.#fids.clear();
  }

  /** Fids at or below `from` follow a rename to `to`, as the client expects. */
  renamed(from: string[], to: string[]): void {
    for (const f of this.#fids.values()) {
      if (f.parts.length >= from.length && from.every((p, i) => f.parts[i] === p)) {
        f.parts = [...to, ...f.parts.slice(from.length)];
      }
    }
  }
}

/** The shared directory: where names below it are on the host, and whether it is writable. */
export class ShareRoot {
  /** The root's real path (symlinks resolved). */
  readonly real: string;

  /** Serves `root`, which must be an existing directory. */
  constructor(root: string, readonly readOnly: boolean) {
    this.real = Deno.realPathSync(root);
    if (!Deno.statSync(this.real).isDirectory) {
      throw new InvalidArgumentError(`9p share root ${root} is not a directory`);
    }
  }

  /** Refuses a change to a read-only share. */
  writable(): void {
    if (this.readOnly) throw new P9Error(E.EROFS, "The share is read-only");
  }

  /**
   * The host path of `parts`, after checking that its parent directory
   * really lies inside the root.
   */
  host(parts: string[]): string {
    if (parts.length === 0) return this.real;
    const parent = Deno.realPathSync([this.real, ...parts.slice(0, -1)].join("/"));
    if (parent !== this.real && !parent.startsWith(`${this.real}/`)) {
      throw new P9Error(E.EACCES, "Path leaves the shared directory");
    }
    return `${parent}/${parts[parts.length - 1]}`;
  }

  /** lstat of `parts`, confined. */
  lstat(parts: string[]): Deno.FileInfo {
    return Deno.lstatSync(this.host(parts));
  }

  /** lstat that refuses symlinks, for calls that would follow them. */
  noSymlink(parts: string[]): Deno.FileInfo {
    const info = this.lstat(parts);
    if (info.isSymlink) throw new P9Error(E.ELOOP, "The server does not follow symlinks");
    return info;
  }
}

/** Closes a fid's file and forgets what it had open. */
function closeFid(f: Fid): void {
  try {
    f.file?.close();
  } catch {
    // already closed
  }
  f.file = undefined;
  f.dirOpen = false;
  f.entries = undefined;
}

export { checkName } from "../virtio/guest_fs_rules.ts";
