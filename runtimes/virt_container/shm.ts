/**
 * A pod's `/dev/shm` in the guest. containerd's CRI plugin gives every
 * container of a pod a bind of the sandbox's host shm (a tmpfs it mounted);
 * shared through the VM's file sharing it would put POSIX shared memory on
 * 9p or virtio-fs. As runtime-rs does, the pod gets one guest tmpfs instead,
 * made with the sandbox container (an `ephemeral` storage at
 * {@link SANDBOX_SHM_GUEST}, sized like the host's shm mount) and bound at
 * `/dev/shm` of each of its containers.
 * @module
 */
import type { OciMount } from "../../resource/volume/volume.ts";
import { isHostBind } from "../../resource/volume/volume.ts";
import type { AgentStorage } from "../../resource/share_fs/share_fs.ts";

/** Where the pod's shm tmpfs lives in the guest. */
export const SANDBOX_SHM_GUEST = "/run/kata-containers/sandbox/shm";
/** containerd's default shm size (64 MiB), used when the host mount shows none. */
export const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

/** Bytes of a tmpfs `size=` option value (`65536k`, `64m`, `1g`, plain bytes); undefined if not one. */
export function parseTmpfsSize(v: string): number | undefined {
  const m = v.trim().match(/^(\d+)([kKmMgG]?)$/);
  if (!m) return undefined;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()] ?? 1;
  return parseInt(m[1], 10) * mult;
}

/** The size of the tmpfs mounted at `path`, from mountinfo text (its super options). */
export function shmSizeOf(path: string, mountinfo: string): number | undefined {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(" ");
    const post = line.slice(sep + 3).split(" ");
    if (pre[4] !== path || post[0] !== "tmpfs") continue;
    const size = (post[2] ?? "").split(",").find((o) => o.startsWith("size="));
    if (size) return parseTmpfsSize(size.slice("size=".length));
  }
  return undefined;
}

/** A container's mounts with `/dev/shm` moved to the pod's guest tmpfs, and the storage making it. */
interface PodShm {
  mounts: OciMount[];
  storages: AgentStorage[];
}

/**
 * Rewrites a host bind at `/dev/shm` into a bind of the pod's guest tmpfs;
 * the sandbox container (`isSandbox`) also gets the storage that mounts it,
 * sized from the host mount (`mountinfo`) or {@link DEFAULT_SHM_BYTES}.
 * Other mounts, and a `/dev/shm` that is not a host bind, are unchanged.
 */
export function podShm(mounts: readonly OciMount[], isSandbox: boolean, mountinfo: string): PodShm {
  const i = mounts.findIndex((m) => m.destination === "/dev/shm" && isHostBind(m));
  if (i < 0) return { mounts: [...mounts], storages: [] };
  const out = [...mounts];
  const readonly = (mounts[i].options ?? []).includes("ro");
  out[i] = {
    destination: "/dev/shm",
    type: "bind",
    source: SANDBOX_SHM_GUEST,
    options: ["rbind", readonly ? "ro" : "rw"],
  };
  if (!isSandbox) return { mounts: out, storages: [] };
  const size = shmSizeOf(mounts[i].source ?? "", mountinfo) ?? DEFAULT_SHM_BYTES;
  return {
    mounts: out,
    storages: [{
      driver: "ephemeral",
      driverOptions: [],
      source: "shm",
      fstype: "tmpfs",
      options: ["noexec", "nosuid", "nodev", "mode=1777", `size=${size}`],
      mountPoint: SANDBOX_SHM_GUEST,
    }],
  };
}
