/**
 * The guest's OCI runtime (runc): command lines and one-shot calls. Containers
 * run in the foreground (`runc run`, `runc exec`) under the agent, so each
 * process's exit status is its runtime child's.
 * @module
 */
import { InternalError } from "../../common/errors.ts";

/** How runc is called in this guest. */
export interface RuncConfig {
  /** The runc binary. */
  binary: string;
  /** runc's state root. */
  root: string;
  /** Use MS_MOVE+chroot instead of pivot_root: needed when the guest root is the initramfs. */
  noPivot: boolean;
}

/**
 * `runc run` of container `id` in `bundle`, writing the init's pid to
 * `pidFile`; detached with a console socket when the process has a terminal.
 */
export function runArgs(
  cfg: RuncConfig,
  id: string,
  bundle: string,
  pidFile: string,
  consoleSocket?: string,
): string[] {
  const args = ["--root", cfg.root, "run", "--bundle", bundle, "--pid-file", pidFile];
  if (consoleSocket) args.push("--detach", "--console-socket", consoleSocket);
  if (cfg.noPivot) args.push("--no-pivot");
  args.push(id);
  return args;
}

/**
 * `runc exec` of the process described by `processFile` in container `id`;
 * detached with a console socket when the process has a terminal.
 */
export function execArgs(
  cfg: RuncConfig,
  id: string,
  processFile: string,
  pidFile: string,
  consoleSocket?: string,
): string[] {
  const args = ["--root", cfg.root, "exec", "--process", processFile, "--pid-file", pidFile];
  if (consoleSocket) args.push("--detach", "--console-socket", consoleSocket);
  args.push(id);
  return args;
}

/**
 * Runs `runc ARGS` to completion; resolves with stdout.
 * @throws {InternalError} naming the command and runc's message when it fails
 */
export async function runc(cfg: RuncConfig, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cfg.binary, {
    args: ["--root", cfg.root, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new InternalError(`runc ${args.join(" ")} failed: ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

/** True when `/` is the initramfs (rootfs), where pivot_root cannot work. */
export async function rootIsInitramfs(mountinfo = "/proc/self/mountinfo"): Promise<boolean> {
  const text = await Deno.readTextFile(mountinfo).catch(() => "");
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    if (left.split(" ")[4] === "/") return ["rootfs", "ramfs"].includes(right.split(" ")[0]);
  }
  return false;
}
