/**
 * The namespace holder of a pod without a pause container (containerd 2.x's
 * Sandbox API): a small process, this shim's own binary in its hidden
 * `pod-holder` action, spawned in the pod's network namespace with fresh
 * IPC and UTS namespaces (the pod's hostname set) and, when the pod shares
 * its PID namespace, as PID 1 of a fresh one, where it reaps the orphans of
 * the pod's containers. CRI puts `/proc/<its pid>/ns/*` into every app
 * container's spec, so it lives as long as the pod.
 * @module
 */
import { type ChildNamespaces, inChildNamespaces } from "../../ffi/namespaces.ts";
import { spawnDetached } from "../../ffi/spawn.ts";
import { reapAny } from "../../ffi/process.ts";

/** The hidden action of the shim binary that runs {@link holdNamespaces}. */
const HOLDER_ACTION = "pod-holder";

/** How to run the shim's own binary (`shim/self_command.ts`, handed down by the shim). */
export interface SelfCommand {
  program: string;
  args: string[];
}

/**
 * Spawns the holder in the namespaces `ns` describes (the pod's netns, ""
 * for a pod on the node's network; its hostname, none to keep the node's
 * UTS namespace; a PID namespace when the pod shares one) and returns its
 * pid (a child of this process, for the caller's reaper). The calling thread
 * enters the pod's namespaces only for the spawn. The holder creates
 * `readyFile` once it runs (see {@link waitReady}).
 */
export function spawnHolder(self: SelfCommand, ns: ChildNamespaces, readyFile: string): number {
  const env: Record<string, string> = {};
  // Enough for a from-source run to find Deno's module cache; nothing else.
  for (const k of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  return inChildNamespaces(
    ns,
    () =>
      spawnDetached({
        program: self.program,
        args: [...self.args, HOLDER_ACTION, readyFile],
        cwd: "/",
        env,
      }),
  );
}

/** How often the holder sweeps for exited children besides SIGCHLD (signals coalesce). */
const SWEEP_MS = 30_000;

/**
 * The holder's own life (the `pod-holder` action): reap whatever child ends
 * (as PID 1 of the pod, orphans of its containers are re-parented here), and
 * never exit on its own; SIGKILL from the shim ends it, and with it, as PID
 * 1, every process left in the pod's PID namespace.
 */
export function holdNamespaces(args: readonly string[]): Promise<number> {
  const readyFile = args[0];
  if (!readyFile?.startsWith("/")) {
    console.error(`${HOLDER_ACTION}: the ready file must be an absolute path, not "${readyFile}"`);
    return Promise.resolve(2);
  }
  const sweep = () => {
    while (reapAny() !== undefined) {
      // each reaped child is simply gone
    }
  };
  Deno.addSignalListener("SIGCHLD", sweep);
  // A PID 1 gets no signal it does not handle; SIGTERM ends the holder cleanly.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  setInterval(sweep, SWEEP_MS);
  Deno.writeTextFileSync(readyFile, "");
  return new Promise<number>(() => {});
}

/** How often {@link waitReady} looks for the ready file. */
const READY_POLL_MS = 10;

/**
 * Resolves once the holder created `readyFile` ("ready"), or with "exited"
 * when `exited` settles first, or "timeout" after `timeoutMs`.
 */
export async function waitReady(
  readyFile: string,
  exited: Promise<unknown>,
  timeoutMs: number,
): Promise<"ready" | "exited" | "timeout"> {
  let done = false;
  const gone = exited.then(() => (done = true));
  const until = Date.now() + timeoutMs;
  while (!done && Date.now() < until) {
    try {
      Deno.statSync(readyFile);
      return "ready";
    } catch {
      await Promise.race([gone, new Promise((r) => setTimeout(r, READY_POLL_MS))]);
    }
  }
  return done ? "exited" : "timeout";
}
