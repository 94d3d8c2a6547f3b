/**
 * `shim-ctl`: drives the shim's runtime code without containerd, and talks
 * to a running sandbox's management socket (like runtime-rs's shim-ctl and
 * kata-ctl).
 * @module
 */
import { writeAll } from "../common/io.ts";

/** Each subcommand with its one-line synopsis and description. */
const SUBCOMMANDS: Record<string, [string, string]> = {
  run: [
    "run --bundle DIR [--id ID] [--runtime BIN] [--state-root DIR]",
    "run an OCI bundle with runc/crun without containerd, stdio attached",
  ],
  net: [
    "net scan|attach|detach --netns PATH [--model M] [--queues N] [--record-dir DIR]",
    "inspect or plumb a pod network namespace the way a sandbox does",
  ],
  metrics: [
    "metrics --sandbox ID [--state-root DIR]",
    "print a running sandbox's Prometheus metrics (GET /metrics on shim-monitor.sock)",
  ],
  factory: [
    "factory init|status|destroy [--config FILE]",
    "build, show or remove the built-in VMM's VM template ([hypervisor.dragonball.factory])",
  ],
  "direct-volume": [
    "direct-volume add|remove|stats|resize --volume-path PATH [--mount-info JSON] [--size BYTES]",
    "register a block device for a volume path, or ask the sandbox using it (kata-ctl semantics)",
  ],
};

/** The `shim-ctl` help text. */
function ctlHelp(): string {
  const lines = Object.values(SUBCOMMANDS).map(([syn, what]) => `  ${syn}\n      ${what}`);
  return `Usage: containerd-shim-kata-v2 shim-ctl <subcommand> [flags]\n\nSubcommands:\n${
    lines.join("\n")
  }\n\nEach subcommand's --help prints its flags.\n`;
}

/** Dispatches `shim-ctl <sub> ...`; returns the exit code. */
export async function shimCtl(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case undefined:
    case "-h":
    case "-help":
    case "--help":
    case "help":
      await writeAll(Deno.stdout, new TextEncoder().encode(ctlHelp()));
      return 0;
    case "run":
      return (await import("./ctl_run.ts")).ctlRun(rest);
    case "net":
      return (await import("../resource/network/cli.ts")).netCommand(rest);
    case "metrics":
      return (await import("./ctl_monitor.ts")).ctlMetrics(rest);
    case "factory":
      return (await import("./ctl_factory.ts")).ctlFactory(rest);
    case "direct-volume":
      return (await import("./ctl_monitor.ts")).ctlDirectVolume(rest);
    default:
      console.error(
        `shim-ctl: unknown subcommand ${JSON.stringify(sub)} (expected one of ${
          Object.keys(SUBCOMMANDS).join(", ")
        })\n${ctlHelp()}`,
      );
      return 2;
  }
}
