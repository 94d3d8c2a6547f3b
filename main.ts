/**
 * Entry point of `containerd-shim-kata-v2`: parses containerd's Go-style
 * flags and hands the action to the module that owns it. Modules are imported
 * lazily so that each action loads only what it needs (start-up time and
 * memory matter for a shim started once per pod).
 * @module
 */
import { HelpRequested, usage } from "./common/flags.ts";
import { type Invocation, parseInvocation, SHIM_FLAGS } from "./shim/options.ts";
import { BINARY_NAME, versionText } from "./shim/version.ts";
import { writeAll } from "./common/io.ts";

const ACTIONS = ["start", "delete", "env", "check", "shim-ctl", "vmm"];

/** Runs the binary with `argv` (without argv[0]) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let inv: Invocation;
  try {
    inv = parseInvocation(argv);
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(helpText());
      return 0;
    }
    console.error(`${BINARY_NAME}: ${(e as Error).message}\n${helpText()}`);
    return 2;
  }
  if (inv.flags.v || inv.flags.version) {
    await writeAll(Deno.stdout, new TextEncoder().encode(versionText()));
    return 0;
  }
  if (inv.flags.info) return (await import("./shim/info.ts")).info(inv);
  switch (inv.action) {
    case "":
      return (await import("./shim/serve.ts")).serve(inv);
    case "start":
      return (await import("./shim/start.ts")).start(inv);
    case "delete":
      return (await import("./shim/delete.ts")).deleteCommand(inv);
    case "env":
      return (await import("./config/cli.ts")).envCommand(inv.args);
    case "check":
      return (await import("./config/cli.ts")).checkCommand(inv.args);
    case "shim-ctl":
      return (await import("./shim/ctl.ts")).shimCtl(inv.args);
    case "vmm":
      return (await import("./hypervisor/dragonball/cli.ts")).vmmCommand(inv.args);
    case "pod-holder":
      // Hidden: the namespace holder a linux-container pod's shim spawns (Sandbox API).
      return (await import("./runtimes/linux_container/ns_holder.ts")).holdNamespaces(
        inv.args,
      );
    default:
      console.error(
        `${BINARY_NAME}: unknown action ${JSON.stringify(inv.action)} (expected one of ${
          ACTIONS.join(", ")
        }, or none to serve)`,
      );
      return 2;
  }
}

/** One line per action, for `-h`. */
const ACTION_HELP: Record<string, string> = {
  "(none)": "serve the shim's task API on --socket (what containerd starts)",
  start: "start a shim for --id (or reuse the pod's) and print its socket address",
  delete: "clean up the task --id after its shim died; prints a DeleteResponse",
  env: "print the resolved configuration as JSON (env --help)",
  check: "report what the host offers for a configuration (check --help)",
  "shim-ctl":
    "drive the runtime without containerd: run, net, metrics, direct-volume (shim-ctl --help)",
  vmm: "run the built-in VMM on its own (vmm --help)",
};

function helpText(): string {
  const actions = Object.entries(ACTION_HELP).map(([a, h]) => `  ${a.padEnd(10)}${h}`);
  return `Usage: ${BINARY_NAME} [flags] [${ACTIONS.join("|")}] [args]\n\nActions:\n${
    actions.join("\n")
  }\n\nFlags:\n${usage(SHIM_FLAGS)}`;
}

/** Runs {@link main} with the process's arguments and exits with its code. */
export async function runMain(): Promise<never> {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`${BINARY_NAME}: ${msg}`);
    code = 1;
  }
  Deno.exit(code);
}

if (import.meta.main) await runMain();
