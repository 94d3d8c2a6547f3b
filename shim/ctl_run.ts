/**
 * `shim-ctl run --bundle DIR [--id ID] [--runtime BIN] [--state-root DIR]`:
 * runs an OCI bundle through the shim's LinuxContainer runtime code without
 * containerd, with this process's stdio attached and the container's exit
 * code as ours. A debugging aid like runtime-rs's shim-ctl.
 * @module
 */
import { HelpRequested, parseFlags } from "../common/flags.ts";

const FLAGS = {
  bundle: { kind: "string", usage: "OCI bundle directory (holds config.json and rootfs/)" },
  id: { kind: "string", usage: "container id (default: the bundle directory's name)" },
  runtime: { kind: "string", usage: "OCI runtime binary", default: "runc" },
  "state-root": { kind: "string", usage: "state directory root", default: "/run/kata" },
} as const;

/** Runs the bundle; returns the container's exit status. */
export async function ctlRun(args: string[]): Promise<number> {
  let values;
  try {
    values = parseFlags(args, FLAGS).values;
  } catch (e) {
    if (!(e instanceof HelpRequested)) throw e;
    console.log(`Usage: containerd-shim-kata-v2 shim-ctl run --bundle DIR [flags]\n${e.message}`);
    return 0;
  }
  if (!values.bundle) {
    console.error("shim-ctl run: --bundle is required");
    return 2;
  }
  const bundle = await Deno.realPath(values.bundle);
  const id = values.id || bundle.split("/").pop() || "shim-ctl";
  const spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`)) as {
    process?: { terminal?: boolean };
  };
  const terminal = spec.process?.terminal === true;
  const [{ setChildSubreaper }, { LinuxContainerHandler }] = await Promise.all([
    import("../ffi/process.ts"),
    import("../runtimes/linux_container/handler.ts"),
  ]);
  // The container's init must become our child when the runtime command exits.
  setChildSubreaper(true);
  const handler = new LinuxContainerHandler({
    runtime: values.runtime,
    stateRoot: values["state-root"],
  });
  const raw = terminal && Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  try {
    await handler.createContainer({
      id,
      bundle,
      rootfs: [],
      terminal,
      stdin: "/proc/self/fd/0",
      stdout: "/proc/self/fd/1",
      stderr: terminal ? "" : "/proc/self/fd/2",
    });
    try {
      if (terminal && Deno.stdout.isTerminal()) {
        const { columns, rows } = Deno.consoleSize();
        await handler.resizePty(id, "", columns, rows);
      }
      await handler.start(id, "");
      const exit = await handler.wait(id, "");
      return exit.exitStatus;
    } finally {
      await handler.delete(id, "").catch(() => handler.shutdown());
    }
  } finally {
    if (raw) Deno.stdin.setRaw(false);
  }
}
