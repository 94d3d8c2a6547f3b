/**
 * `shim-ctl factory init|status|destroy` (kata-ctl's `factory`): builds,
 * shows and removes the VM template of `[hypervisor.dragonball.factory]`.
 * @module
 */
import { HelpRequested, parseFlags, usage } from "../common/flags.ts";
import { type FactoryAction, templateFactory } from "../runtimes/manager.ts";

const FLAGS = {
  config: { kind: "string", usage: "configuration file (default: the shim's lookup)" },
} as const;
const ACTIONS: readonly FactoryAction[] = ["init", "status", "destroy"];
const SYNOPSIS = "factory init|status|destroy [--config FILE]";

/** Runs one factory action; returns the exit code (1: it failed, 2: bad usage). */
export async function ctlFactory(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || ["-h", "-help", "--help"].includes(action)) {
    console.log(`Usage: containerd-shim-kata-v2 shim-ctl ${SYNOPSIS}\n${usage(FLAGS)}`);
    return 0;
  }
  if (!ACTIONS.includes(action as FactoryAction)) {
    console.error(
      `shim-ctl factory: unknown action ${JSON.stringify(action)} (expected one of ${
        ACTIONS.join(", ")
      })`,
    );
    return 2;
  }
  let config: string;
  try {
    config = parseFlags(rest, FLAGS).values.config;
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(`Usage: containerd-shim-kata-v2 shim-ctl ${SYNOPSIS}\n${usage(FLAGS)}`);
      return 0;
    }
    console.error(`shim-ctl factory ${action}: ${(e as Error).message}\n${usage(FLAGS)}`);
    return 2;
  }
  try {
    console.log(await templateFactory(action as FactoryAction, config || undefined));
    return 0;
  } catch (e) {
    console.error(`shim-ctl factory ${action}: ${(e as Error).message}`);
    return 1;
  }
}
