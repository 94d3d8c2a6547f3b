/**
 * `start`: containerd's request for a shim address. For a pod's containers
 * the sandbox's shim is reused (its address is computed, nothing is
 * spawned); otherwise a detached server is spawned (new session, no
 * inherited stdio, since containerd waits for every holder of its pipe),
 * `start` waits until it accepts connections, writes `<bundle>/address` and
 * `<bundle>/shim.pid`, and prints the address with no newline.
 * @module
 */
import { InvalidArgumentError, UnavailableError } from "../common/errors.ts";
import type { Invocation } from "./options.ts";
import { containerKind, socketAddress, socketPath } from "./address.ts";
import { selfCommand } from "./self_command.ts";
import { writeAll } from "../common/io.ts";

/**
 * Default wait for the server to listen: within containerd's default shim
 * load timeout (5 s, `io.containerd.timeout.shim.load`), leaving it time to
 * read our answer.
 */
export const DEFAULT_READY_TIMEOUT_MS = 4500;

/** Environment variable that overrides the readiness wait (milliseconds). */
export const READY_TIMEOUT_ENV = "KATA_SHIM_READY_TIMEOUT_MS";

/**
 * The readiness wait: `KATA_SHIM_READY_TIMEOUT_MS` when set (for slow hosts,
 * e.g. nested emulation, together with a raised containerd shim load
 * timeout), else {@link DEFAULT_READY_TIMEOUT_MS}.
 * @throws {InvalidArgumentError} when the variable is not a positive integer
 */
export function readyTimeoutMs(value = Deno.env.get(READY_TIMEOUT_ENV)): number {
  if (value === undefined || value === "") return DEFAULT_READY_TIMEOUT_MS;
  if (!/^\d+$/.test(value) || Number(value) <= 0) {
    throw new InvalidArgumentError(
      `start: ${READY_TIMEOUT_ENV} must be a positive number of milliseconds, not "${value}"`,
    );
  }
  return Number(value);
}

/** Runs `start`; returns the exit code. */
export async function start(inv: Invocation): Promise<number> {
  const f = inv.flags;
  for (const name of ["id", "namespace", "address"] as const) {
    if (!f[name]) throw new InvalidArgumentError(`start: -${name} is required`);
  }
  // stdin (nothing, runtime options or a 2.x bootstrap message) is not read:
  // the runtime options reach us again in Create.
  const bundle = f.bundle || Deno.cwd();
  const spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`)) as {
    annotations?: Record<string, string>;
  };
  const kind = containerKind(spec.annotations);
  const owner = kind.kind === "pod-container" ? kind.sandboxId : f.id;
  const address = await socketAddress(f.address, f.namespace, owner);
  if (kind.kind !== "pod-container") {
    const pid = await spawnServer(inv, bundle, address);
    await Deno.writeTextFile(`${bundle}/shim.pid`, String(pid));
  }
  await Deno.writeTextFile(`${bundle}/address`, address);
  await writeAll(Deno.stdout, new TextEncoder().encode(address));
  return 0;
}

async function spawnServer(inv: Invocation, bundle: string, address: string): Promise<number> {
  const f = inv.flags;
  const path = socketPath(address);
  if (await accepts(path)) {
    throw new UnavailableError(`start: a shim already serves ${address}`);
  }
  const timeoutMs = readyTimeoutMs();
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
  const child = new Deno.Command(self.program, {
    args,
    cwd: bundle,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((s) => (exited = s));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) {
      throw new UnavailableError(
        `start: the shim server exited with status ${exited.code} before listening on ${address} (see <bundle>/log)`,
      );
    }
    if (await accepts(path)) return child.pid;
    await new Promise((r) => setTimeout(r, 5));
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  throw new UnavailableError(
    `start: the shim server did not listen on ${address} within ${timeoutMs} ms`,
  );
}

async function accepts(path: string): Promise<boolean> {
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    return true;
  } catch {
    return false;
  }
}
