/**
 * `shim-ctl`: drives the shim's runtime code without containerd.
 * @module
 */
const SUBCOMMANDS = ["run", "net"];

/** Dispatches `shim-ctl <sub> ...`; returns the exit code. */
export async function shimCtl(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "run":
      return (await import("./ctl_run.ts")).ctlRun(rest);
    case "net":
      return (await import("../resource/network/cli.ts")).netCommand(rest);
    default:
      console.error(
        `shim-ctl: unknown subcommand ${JSON.stringify(sub ?? "")} (expected one of ${
          SUBCOMMANDS.join(", ")
        })`,
      );
      return 2;
  }
}
