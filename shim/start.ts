/**
 * `start`: containerd's request for a shim address. For a pod's containers
 * the sandbox's shim is reused (its address is computed, nothing is
 * spawned); otherwise `start` binds the shim's socket itself and hands the
 * listening fd to a detached server it spawns (new session, no inherited
 * stdio, since containerd waits for every holder of its pipe) — the Go
 * shims' pattern. `start` returns at once: containerd's connection and first
 * request wait in the socket's backlog while the server starts, so the
 * server's start-up is off containerd's critical path. A server that dies
 * at start-up closes the last holder of the socket, so containerd's pending
 * request fails at once (connection reset) instead of waiting; the server
 * logs its error to the bundle's log FIFO, which containerd copies to its
 * own log. `start` writes `<bundle>/address` and `<bundle>/shim.pid` and
 * prints the address with no newline.
 * @module
 */
import { InvalidArgumentError, UnavailableError } from "../common/errors.ts";
import type { Invocation } from "./options.ts";
import { containerKind, socketAddress, socketPath } from "./address.ts";
import { selfCommand } from "./self_command.ts";
import { writeAllSync } from "../common/io.ts";
import { closeFd } from "../ffi/fd.ts";
import { listenUnixInheritable, unixSocketServed } from "../ffi/inherit.ts";
import { spawnDetached } from "../ffi/spawn.ts";

/** Environment variable naming the inherited listening fd the server adopts. */
export const LISTEN_FD_ENV = "KATA_SHIM_LISTEN_FD";

/**
 * Runs `start`; returns the exit code. Its file and socket operations are synchronous:
 * containerd waits for `start`, and the first asynchronous one would start
 * Deno's I/O thread pool (about 6 ms) for a process that lives 30 ms.
 */
export function start(inv: Invocation): number {
  const f = inv.flags;
  for (const name of ["id", "namespace", "address"] as const) {
    if (!f[name]) throw new InvalidArgumentError(`Start: -${name} is required`);
  }
  // stdin (nothing, runtime options or a 2.x bootstrap message) is not read:
  // the runtime options reach us again in Create.
  const bundle = f.bundle || Deno.cwd();
  const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`)) as {
    annotations?: Record<string, string>;
  };
  const kind = containerKind(spec.annotations);
  const owner = kind.kind === "pod-container" ? kind.sandboxId : f.id;
  const address = socketAddress(f.address, f.namespace, owner);
  if (kind.kind !== "pod-container") {
    const pid = spawnServer(inv, bundle, address);
    Deno.writeTextFileSync(`${bundle}/shim.pid`, String(pid));
  }
  Deno.writeTextFileSync(`${bundle}/address`, address);
  writeAllSync(Deno.stdout, new TextEncoder().encode(address));
  return 0;
}

function spawnServer(inv: Invocation, bundle: string, address: string): number {
  const f = inv.flags;
  const path = socketPath(address);
  if (unixSocketServed(path)) {
    throw new UnavailableError(`Start: a shim already serves ${address}`);
  }
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  // Nothing answers there (checked above): a stale socket of a dead shim.
  removeIfPresent(path);
  const fd = listenUnixInheritable(path);
  try {
    const self = selfCommand();
    const args = [
      ...self.args,
      "-namespace",
      f.namespace,
      "-address",
      f.address,
      "-publish-binary",
      f["publish-binary"],
      "-id",
      f.id,
      "-socket",
      address,
      "-bundle",
      bundle,
      ...(f.debug ? ["-debug"] : []),
    ];
    // posix_spawn, not Deno.Command: a first Deno.Command cost about 13 ms, on
    // containerd's critical path.
    return spawnDetached({
      program: self.program,
      args,
      cwd: bundle,
      env: { ...Deno.env.toObject(), [LISTEN_FD_ENV]: String(fd) },
    });
  } catch (e) {
    try {
      Deno.removeSync(path);
    } catch {
      // the spawn's error is the one to report
    }
    throw e;
  } finally {
    // The server holds the socket now; ours must go, or a dead server would leave
    // containerd's connection waiting on a socket that nobody serves.
    closeFd(fd);
  }
}

function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
