/**
 * A container's volumes: the bind mounts of its OCI spec whose sources live
 * on the host. With a shared file system each source is bind-mounted under
 * the shared directory and the spec mount re-pointed at the guest path;
 * without one, files (and directory trees of files) are copied into the
 * guest with CopyFile. A bind of a registered direct volume gets its block
 * device instead (block_volume.ts). Kernel file systems (proc, sysfs,
 * tmpfs, …) and anything else pass through unchanged: the agent mounts them
 * in the guest.
 * @module
 */
import { InvalidArgumentError, UnimplementedError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { mount } from "../../ffi/mount.ts";
import type { SharedLayout } from "../share_fs/layout.ts";
import type { AgentStorage } from "../share_fs/share_fs.ts";
import { mountsUnder, unmountAll } from "../share_fs/mounts.ts";
import {
  attachBlockVolume,
  type AttachedBlockVolume,
  type BlockVolumeContext,
  detachBlockVolume,
} from "./block_volume.ts";
import { directVolumeOf } from "./direct_volume.ts";

const log = getLogger("resource.volume");

/** An OCI spec mount (JSON). */
export interface OciMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

/** One CopyFile request, as plain fields. */
export interface CopyFileChunk {
  path: string;
  fileSize: bigint;
  fileMode: number;
  dirMode: number;
  uid: number;
  gid: number;
  offset: bigint;
  data: Uint8Array;
}

/** Sends one CopyFile request to the agent. */
type CopyFileFn = (req: CopyFileChunk) => Promise<unknown>;

/** Largest total a copied volume may have (it lands in guest memory). */
export const MAX_COPY_BYTES = 64 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** Whether a spec mount is a bind mount of a host path. */
export function isHostBind(m: OciMount): boolean {
  const opts = m.options ?? [];
  const bind = m.type === "bind" || opts.includes("bind") || opts.includes("rbind");
  return bind && !!m.source && m.source.startsWith("/");
}

/** The volumes of one container, and how to undo them. */
export class ContainerVolumes {
  /** Host mount points made under the shared dir. */
  readonly #hostMounts: string[] = [];
  /** Direct volumes attached as disks. */
  readonly #blockVolumes: AttachedBlockVolume[] = [];

  /**
   * `block`: how direct volumes reach this VM as disks; without it (a VM
   * that takes no block devices) a container mounting one is refused.
   */
  constructor(
    readonly cid: string,
    readonly layout: SharedLayout,
    readonly shared: boolean,
    readonly block?: Omit<BlockVolumeContext, "cid">,
    /** Where direct volumes are registered (tests replace it). */
    readonly directVolumeRoot?: string,
  ) {}

  /** Storages the agent mounts before the container starts (its direct volumes). */
  get storages(): AgentStorage[] {
    return this.#blockVolumes.map((v) => v.storage);
  }

  /**
   * Returns the spec's mounts with each host bind re-pointed into the guest.
   * On failure whatever was done is undone.
   */
  async prepare(mounts: readonly OciMount[], copyFile?: CopyFileFn): Promise<OciMount[]> {
    const out: OciMount[] = [];
    try {
      for (const m of mounts) {
        if (!isHostBind(m)) {
          out.push(m);
          continue;
        }
        const direct = directVolumeOf(m.source!, this.directVolumeRoot);
        if (direct) out.push(await this.#attachBlock(m, direct));
        else out.push(this.shared ? this.#share(m) : await this.#copy(m, copyFile));
      }
    } catch (e) {
      this.release();
      await this.detachBlock(false).catch((d) =>
        log.warn("container {cid}: detaching its direct volumes failed: {e}", {
          cid: this.cid,
          e: String(d),
        })
      );
      throw e;
    }
    return out;
  }

  async #attachBlock(
    m: OciMount,
    info: NonNullable<ReturnType<typeof directVolumeOf>>,
  ): Promise<OciMount> {
    if (!this.block) {
      throw new UnimplementedError(
        `Volume ${m.source} is a direct-assigned block volume (device ${info.device}), ` +
          "and this VM takes no block devices",
      );
    }
    const { mount: bind, volume } = await attachBlockVolume(m, info, {
      ...this.block,
      cid: this.cid,
    });
    this.#blockVolumes.push(volume);
    return bind;
  }

  /**
   * Detaches every direct volume of the container (`vmGone`: the VM took
   * its disks along) and drops their claims.
   */
  async detachBlock(vmGone: boolean): Promise<void> {
    const errors: unknown[] = [];
    while (this.#blockVolumes.length > 0) {
      const v = this.#blockVolumes.pop()!;
      await detachBlockVolume(v, { ...this.block!, cid: this.cid }, vmGone).catch((e) =>
        errors.push(e)
      );
    }
    if (errors.length > 0) throw errors[0];
  }

  #share(m: OciMount): OciMount {
    const src = m.source!;
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(src);
    } catch (e) {
      throw new InvalidArgumentError(
        `Cannot share volume ${src} → ${m.destination}: ${(e as Error).message}`,
      );
    }
    const name = this.layout.volumeName(this.cid, src);
    const host = this.layout.volumeHost(name);
    if (st.isDirectory) Deno.mkdirSync(host, { recursive: true });
    else Deno.writeFileSync(host, new Uint8Array(), { mode: 0o600 });
    try {
      const ro = (m.options ?? []).includes("ro");
      mount(src, host, "", ["rbind"]);
      if (ro) mount("", host, "", ["remount", "bind", "ro"]);
    } catch (e) {
      unmountAll(host);
      Deno.removeSync(host);
      throw e;
    }
    this.#hostMounts.push(host);
    log.debug("volume {src} shared as {name}", { src, name });
    return { ...m, source: this.layout.volumeGuest(name), type: "bind" };
  }

  async #copy(m: OciMount, copyFile?: CopyFileFn): Promise<OciMount> {
    if (!copyFile) {
      throw new UnimplementedError(`Cannot copy volume ${m.source}: no agent to copy it with`);
    }
    const src = m.source!;
    const name = this.layout.volumeName(this.cid, src);
    const guest = this.layout.volumeGuest(name);
    const files = collectFiles(src, guest);
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total > MAX_COPY_BYTES) {
      throw new UnimplementedError(
        `Cannot copy volume ${src} into the VM: ${total} bytes exceed the ${MAX_COPY_BYTES}-byte limit ` +
          "of copying without a shared file system",
      );
    }
    for (const f of files) await copyOne(f, copyFile);
    return { ...m, source: guest, type: "bind" };
  }

  /** Unmounts and removes every shared volume of the container. */
  release(): void {
    while (this.#hostMounts.length > 0) {
      const host = this.#hostMounts.pop()!;
      for (const mp of mountsUnder(host)) unmountAll(mp);
      try {
        Deno.removeSync(host);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
}

interface FileToCopy {
  host: string;
  guest: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

/** Regular files under `src` (or `src` itself), mapped to guest paths. Symlinks are skipped. */
function collectFiles(src: string, guest: string): FileToCopy[] {
  const st = Deno.statSync(src);
  if (st.isFile) {
    return [{
      host: src,
      guest,
      size: st.size,
      mode: (st.mode ?? 0o644) & 0o7777,
      uid: st.uid ?? 0,
      gid: st.gid ?? 0,
    }];
  }
  if (!st.isDirectory) {
    throw new UnimplementedError(`Cannot copy volume ${src}: not a regular file or directory`);
  }
  const out: FileToCopy[] = [];
  for (const e of Deno.readDirSync(src)) {
    if (e.isSymlink) {
      log.warn(`volume copy skips symlink ${src}/${e.name}`);
      continue;
    }
    if (e.isFile || e.isDirectory) {
      out.push(...collectFiles(`${src}/${e.name}`, `${guest}/${e.name}`));
    }
  }
  return out;
}

async function copyOne(f: FileToCopy, copyFile: CopyFileFn): Promise<void> {
  const data = Deno.readFileSync(f.host);
  const base = {
    path: f.guest,
    fileSize: BigInt(data.length),
    fileMode: f.mode,
    dirMode: 0o750,
    uid: f.uid,
    gid: f.gid,
  };
  if (data.length === 0) {
    await copyFile({ ...base, offset: 0n, data });
    return;
  }
  for (let off = 0; off < data.length; off += CHUNK) {
    await copyFile({ ...base, offset: BigInt(off), data: data.subarray(off, off + CHUNK) });
  }
}
