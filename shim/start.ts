/**
 * `start`: containerd's request for a shim address. For a pod's containers
 * the sandbox's shim is reused (its address is computed, nothing is
 * spawned); otherwise `start` spawns a detached server (new session, no
 * inherited stdio, since containerd waits for every holder of its pipe)
 * that binds the shim's socket itself with `Deno.listen`, on a temporary
 * name in the socket's directory, and renames it onto the address: the
 * address never names a socket that refuses, and the server serves through
 * Deno's own event loop (a socket handed over by fd was served through FFI
 * polls on Deno's thread pool, about 130 µs of server CPU more per call).
 * `start` waits, bounded by {@link READY_TIMEOUT_MS}, on a readiness pipe
 * the server inherits: one byte once the socket is at the address, or the
 * pipe's close when the server dies first, which makes `start` fail at once
 * with the server's exit status (the server logs its own error to the
 * bundle's log FIFO, which containerd copies to its log) and leaves no
 * socket file behind. The wait covers only the server's Deno start-up and
 * its bind: the server binds before it loads anything else, and
 * containerd's first request waits in the socket's backlog while it loads
 * the rest. `start` never answers before the socket exists: containerd
 * 2.x dials the address once (1.x's dialer retried a missing file), so a
 * server that has not bound it within the bound is stopped and `start`
 * fails naming that. `start` writes `<bundle>/address` and `<bundle>/shim.pid` and
 * prints the address with no newline, or, to containerd 2.x, the JSON
 * bootstrap answer naming shim protocol version 3 (shim/containerd_release.ts
 * says why the release matters). Under containerd 2.x's Sandbox API
 * (`sandboxer = "shim"`) the sandbox's bundle has no `config.json`: the shim
 * is then the pod's, and the Sandbox service creates the pod.
 * @module
 */
import { InvalidArgumentError, UnavailableError } from "../common/errors.ts";
import type { Invocation } from "./options.ts";
import { containerKind, socketAddress, socketPath } from "./address.ts";
import { selfCommand } from "./self_command.ts";
import { writeAllSync } from "../common/io.ts";
import { closeFd } from "../ffi/fd.ts";
import { awaitReadiness, readinessPipe, sleepSync, unixSocketServed } from "../ffi/inherit.ts";
import { spawnDetached } from "../ffi/spawn.ts";
import { sendSignal, tryReap } from "../ffi/process.ts";
import { containerdMajor } from "./containerd_release.ts";
import { bindingPath, CONFIG_PATH_ENV, READY_FD_ENV } from "./server_env.ts";

/**
 * How long `start` waits for its server's socket. `start` must not answer
 * before the socket exists: containerd 2.x dials the address once, with no
 * retry on a missing file (`pkg/shim` AnonDialer is a plain DialTimeout; 1.x
 * retried), so a server still starting (seconds under nested emulation) failed
 * the sandbox with "connect: no such file or directory". Far above a server's
 * start-up to its bind, so that only a stuck server reaches it.
 */
const READY_TIMEOUT_MS = 60_000;

/** More runtime options than this on stdin is not containerd talking. */
const MAX_OPTIONS = 64 * 1024;

/**
 * Runs `start`; returns the exit code. Its file and socket operations are synchronous:
 * containerd waits for `start`, and the first asynchronous one would start
 * Deno's I/O thread pool (about 6 ms) for a process that lives 30 ms.
 */
export async function start(inv: Invocation): Promise<number> {
  const f = inv.flags;
  for (const name of ["id", "namespace", "address"] as const) {
    if (!f[name]) throw new InvalidArgumentError(`Start: -${name} is required`);
  }
  // For a container, stdin (the runtime options) is not read: they reach the
  // server again in Create. A pod of the Sandbox API gets no Create of its own.
  const bundle = f.bundle || Deno.cwd();
  const annotations = bundleAnnotations(bundle);
  const kind = annotations ? containerKind(annotations) : { kind: "sandbox" as const };
  const owner = kind.kind === "pod-container" ? kind.sandboxId : f.id;
  const address = socketAddress(f.address, f.namespace, owner);
  if (kind.kind !== "pod-container") {
    const configPath = annotations ? undefined : await runtimeOptionsConfigPath();
    const pid = spawnServer(inv, bundle, address, configPath);
    Deno.writeTextFileSync(`${bundle}/shim.pid`, String(pid));
  }
  Deno.writeTextFileSync(`${bundle}/address`, address);
  writeAllSync(Deno.stdout, new TextEncoder().encode(startAnswer(address, f["publish-binary"])));
  return 0;
}

/**
 * The bundle's OCI annotations; undefined where the bundle has no
 * `config.json` (containerd 2.x's Sandbox API starts the pod's shim before
 * any container exists).
 */
function bundleAnnotations(bundle: string): Record<string, string> | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${bundle}/config.json`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let spec: { annotations?: Record<string, string> };
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(
      `Start: ${bundle}/config.json is not valid JSON: ${(e as Error).message}`,
    );
  }
  return spec.annotations ?? {};
}

/**
 * What `start` prints: containerd 2.x gets the JSON bootstrap answer with
 * shim protocol version 3 and ttRPC; 1.6 and 1.7 (or a containerd that
 * cannot be told) the bare address, which every release reads.
 */
export function startAnswer(address: string, publishBinary: string | undefined): string {
  const major = publishBinary ? containerdMajor(publishBinary) : undefined;
  if (major === undefined || major < 2) return address;
  return JSON.stringify({ version: 3, address, protocol: "ttrpc" });
}

function spawnServer(
  inv: Invocation,
  bundle: string,
  address: string,
  configPath: string | undefined,
): number {
  const f = inv.flags;
  const path = socketPath(address);
  if (unixSocketServed(path)) {
    throw new UnavailableError(`Start: a shim already serves ${address}`);
  }
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
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
  const pipe = readinessPipe();
  let pid: number;
  try {
    // posix_spawn, not Deno.Command: a first Deno.Command cost about 13 ms, on
    // containerd's critical path.
    pid = spawnDetached({
      program: self.program,
      args,
      cwd: bundle,
      env: {
        ...Deno.env.toObject(),
        // Deno's background update check (a TLS fetch, its CA certificates parsed and kept)
        // cost the idle server about 2.5 MiB resident, and nothing of ours needs it.
        DENO_NO_UPDATE_CHECK: "1",
        [READY_FD_ENV]: String(pipe.write),
        ...(configPath ? { [CONFIG_PATH_ENV]: configPath } : {}),
      },
    });
  } catch (e) {
    closeFd(pipe.read);
    throw e;
  } finally {
    // The server holds the write end now: its death alone must close the pipe.
    closeFd(pipe.write);
  }
  let readiness;
  try {
    readiness = awaitReadiness(pipe.read, READY_TIMEOUT_MS);
  } finally {
    closeFd(pipe.read);
  }
  if (readiness === "closed") throw serverDied(pid, path, address);
  if (readiness === "timeout") {
    // Our own child, just spawned: stopped and reaped here, its sockets removed.
    sendSignal(pid, 9);
    throw serverDied(pid, path, address, `did not bind its socket within ${READY_TIMEOUT_MS} ms`);
  }
  return pid;
}

/**
 * The error for a server that closed its readiness pipe without serving:
 * its exit status (it is this process's child, reaped here), and no socket
 * file of it left behind.
 */
function serverDied(pid: number, path: string, address: string, why?: string): Error {
  let exit = tryReap(pid);
  // The pipe closes as the process exits, a moment before it can be reaped.
  for (let i = 0; i < 50 && exit === undefined; i++) {
    sleepSync(2);
    exit = tryReap(pid);
  }
  if (exit !== undefined) {
    removeSocketFile(bindingPath(path, pid));
    if (!unixSocketServed(path)) removeSocketFile(path);
  }
  const how = why ??
    (exit
      ? exit.signal ? `was killed by signal ${exit.signal}` : `exited with status ${exit.status}`
      : "closed its readiness pipe");
  return new UnavailableError(
    `Start: the shim server (pid ${pid}) ${how} before serving ${address}; its error is in containerd's log`,
  );
}

/** Removes the socket file at `path`, if one is there (never anything else). */
function removeSocketFile(path: string): void {
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * The `config_path` of the runtime options containerd writes to `start`'s
 * stdin (a protobuf Any of `runtimeoptions.v1.Options`), or undefined (none,
 * another type, a terminal). Read synchronously: no I/O thread pool for it.
 */
async function runtimeOptionsConfigPath(): Promise<string | undefined> {
  if (Deno.stdin.isTerminal()) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = Deno.stdin.readSync(buf);
    if (n === null || n === 0) break;
    size += n;
    if (size > MAX_OPTIONS) {
      throw new InvalidArgumentError(`Start: runtime options on stdin exceed ${MAX_OPTIONS} bytes`);
    }
    chunks.push(buf.slice(0, n));
  }
  if (size === 0) return undefined;
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  const [{ fromBinary }, { AnySchema }, { configPathFromOptions }] = await Promise.all([
    import("@bufbuild/protobuf"),
    import("@bufbuild/protobuf/wkt"),
    import("../service/task_service.ts"),
  ]);
  try {
    return configPathFromOptions(fromBinary(AnySchema, bytes));
  } catch (e) {
    throw new InvalidArgumentError(
      `Start: the runtime options on stdin do not decode: ${(e as Error).message}`,
    );
  }
}
