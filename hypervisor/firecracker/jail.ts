/**
 * Files a jailed Firecracker can see: the jailer chroots the VMM into
 * `<vmPath>/root`, so the kernel, image, initrd and every drive are
 * bind-mounted in there and named relative to it. Unjailed, host paths are
 * used as they are and nothing is mounted. The bind mounts are remembered
 * so clean-up can unmount them before anything is removed.
 * @module
 */
import { UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import type { FirecrackerPaths } from "./options.ts";

const log = getLogger("hypervisor.firecracker");

/** The jail of one Firecracker VM (or its absence). */
export class FirecrackerJail {
  readonly #paths: FirecrackerPaths;
  /** Files bind-mounted into the jail, unmounted on clean-up. */
  readonly #mounts: string[] = [];

  constructor(paths: FirecrackerPaths) {
    this.#paths = paths;
  }

  /** Path of a host file under the jail root as the VMM sees it (relative when jailed). */
  vmmPath(hostPath: string): string {
    const p = this.#paths;
    return p.jailed ? hostPath.slice(p.rootDir.length + 1) : hostPath;
  }

  /** Makes a host file visible to the VMM: itself, or bind-mounted into the jail as `name`. */
  async bringIn(hostPath: string, name: string): Promise<string> {
    const p = this.#paths;
    if (!p.jailed) return hostPath;
    const target = `${p.rootDir}/${name}`;
    await Deno.writeFile(target, new Uint8Array());
    await this.#bind(hostPath, target);
    return name;
  }

  /**
   * Binds `hostPath` over the placeholder `drive<slot>` (dropping an earlier
   * bind there) and returns the drive's path for the VMM.
   */
  async pointDrive(slot: number, hostPath: string): Promise<string> {
    const p = this.#paths;
    if (!p.jailed) return hostPath;
    const target = `${p.rootDir}/drive${slot}`;
    const i = this.#mounts.indexOf(target);
    if (i >= 0) {
      await unmount(target);
      this.#mounts.splice(i, 1);
    }
    if (hostPath !== target) await this.#bind(hostPath, target);
    return `drive${slot}`;
  }

  /** Unmounts every bind, last first. */
  async unmountAll(): Promise<void> {
    for (const target of this.#mounts.splice(0).reverse()) await unmount(target);
  }

  async #bind(src: string, target: string): Promise<void> {
    await Deno.writeFile(target, new Uint8Array(), { create: true, append: true });
    const out = await new Deno.Command("mount", {
      args: ["--bind", src, target],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new UnavailableError(
        `Cannot bind ${src} into the Firecracker jail: ${
          new TextDecoder().decode(out.stderr).trim()
        }`,
      );
    }
    this.#mounts.push(target);
  }
}

async function unmount(target: string): Promise<void> {
  const out = await new Deno.Command("umount", { args: [target], stderr: "piped" }).output();
  if (!out.success) {
    log.warn("cannot unmount {target}: {err}", {
      target,
      err: new TextDecoder().decode(out.stderr).trim(),
    });
  }
}
