/**
 * OCI hooks run on the host, as runc runs them: the hook binary with its
 * `args` after args[0] and only its `env`, the container state JSON on
 * stdin, killed after `timeout` seconds. One difference: Deno cannot set a
 * child's argv[0], so the hook sees its path there instead of args[0].
 * A failing prestart/createRuntime hook fails the sandbox start; a failing
 * poststart/poststop hook is only logged (by the caller), as the runtime
 * spec says.
 * @module
 */
import { DeadlineExceededError, FailedPreconditionError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";

const log = getLogger("runtimes.virt_container.hooks");

/** One OCI hook (JSON). */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** The OCI state given to hooks on stdin. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: "creating" | "created" | "running" | "stopped";
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/** The hook lists of a spec, by kind. */
type HookKind =
  | "prestart"
  | "createRuntime"
  | "createContainer"
  | "startContainer"
  | "poststart"
  | "poststop";

/** The hooks of `kind` in a spec (empty when none). */
export function hooksOf(spec: Record<string, unknown>, kind: HookKind): OciHook[] {
  const hooks = (spec.hooks ?? {}) as Record<string, unknown>;
  const list = hooks[kind];
  return Array.isArray(list) ? list as OciHook[] : [];
}

/** Runs one hook; throws naming the hook on a non-zero exit, a spawn failure or a timeout. */
export async function runHook(hook: OciHook, state: OciState, kind: string): Promise<void> {
  if (!hook.path) throw new FailedPreconditionError(`${kind} hook has no path`);
  const [argv0, ...rest] = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
  const env: Record<string, string> = {};
  for (const e of hook.env ?? []) {
    const i = e.indexOf("=");
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(hook.path, {
      args: rest,
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new FailedPreconditionError(
      `${kind} hook ${hook.path} (${argv0}) cannot start: ${(e as Error).message}`,
    );
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(state))).catch(() => {});
  await w.close().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  if (hook.timeout && hook.timeout > 0) {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, hook.timeout * 1000);
  }
  try {
    const out = await child.output();
    if (timedOut) {
      throw new DeadlineExceededError(
        `${kind} hook ${hook.path} timed out after ${hook.timeout} s`,
      );
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim();
      throw new FailedPreconditionError(
        `${kind} hook ${hook.path} failed with exit code ${out.code}${err ? `: ${err}` : ""}`,
      );
    }
    log.debug("{kind} hook {path} ran", { kind, path: hook.path });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Runs hooks in order; the first failure stops the rest and is thrown. */
export async function runHooks(
  hooks: readonly OciHook[],
  state: OciState,
  kind: string,
): Promise<void> {
  for (const h of hooks) await runHook(h, state, kind);
}
