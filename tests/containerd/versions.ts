/**
 * The containerd releases the peer tests run against: Debian 12's own 1.6
 * (installed as a package), and 1.7 and 2.1 from later Debian releases,
 * unpacked into `.cache/peers/` by `scripts/install-deps` (see
 * `containerd_peers` in `scripts/lib.sh`) and run from there as they are.
 * @module
 */
import type { Needs } from "../tier.ts";

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** A containerd release the tests know. */
export type ContainerdVersion = "1.6" | "1.7" | "2.1";

/** Every release the peer tests run against, oldest first. */
export const CONTAINERD_VERSIONS: readonly ContainerdVersion[] = ["1.6", "1.7", "2.1"];

/** The release a test gets when it names none (Debian 12's package). */
export const DEFAULT_CONTAINERD: ContainerdVersion = "1.6";

/** The directory holding `containerd`, `ctr` and `containerd-shim-runc-v2` of `v`. */
export function containerdBinDir(v: ContainerdVersion): string {
  return v === "1.6" ? "/usr/bin" : `${REPO}/.cache/peers/containerd-${v}/usr/bin`;
}

/** Whether `v` speaks config version 3 and the Sandbox API (containerd 2.x). */
export function isContainerd2(v: ContainerdVersion): boolean {
  return v.startsWith("2.");
}

/**
 * What the tests of containerd `v` need (tests/tier.ts): root, runc, umoci
 * and the release's binaries (1.7 and 2.1 come from `scripts/install-deps`).
 */
export function containerdNeeds(v: ContainerdVersion): Needs {
  const dir = containerdBinDir(v);
  return {
    root: true,
    peers: ["runc", "umoci"],
    paths: ["containerd", "ctr", "containerd-shim-runc-v2"].map((b) => `${dir}/${b}`),
  };
}
