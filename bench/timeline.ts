/**
 * One `ctr run --rm busybox /bin/true` through our shim on one timeline
 * (`./scripts/deno run -A bench/timeline.ts`): containerd's debug log lines (their
 * `time=` stamps), our shim's own log lines (containerd copies them from the
 * log FIFO; the server runs with `-debug`), each `start`/`delete` action and
 * each runc call (through timestamping wrappers), in milliseconds from the
 * `ctr` invocation. Not part of `deno task bench`: a tool for finding where
 * the time goes, printed, not compared.
 * @module
 */
import { Containerd, IMAGE, LINUX_CONTAINER_CONFIG } from "../tests/containerd/harness.ts";
import { build } from "./shim_server.ts";
import { tracingLauncher } from "./shim.ts";

const RUNC_COMMANDS = new Set([
  "create",
  "start",
  "delete",
  "kill",
  "state",
  "exec",
  "ps",
  "pause",
]);

function which(cmd: string): string {
  const out = new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`] }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Milliseconds since the epoch of a containerd `time="2026-...Z"` stamp (µs kept). */
function stampMs(line: string): number | undefined {
  const m = /time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)"/.exec(line);
  if (!m) return undefined;
  const base = Date.parse(`${m[1]}${m[3]}`);
  return base + (m[2] ? Number(`0${m[2]}`) * 1000 : 0);
}

if (import.meta.main) {
  const b = await build();
  const c = await Containerd.start({});
  try {
    const trace = `${c.dir}/timeline-trace`;
    const launcher = `${c.dir}/timeline-shim`;
    await tracingLauncher(launcher, b.launcher, trace);
    // The configuration's oci_runtime is "runc", found on the shim's PATH, where the
    // harness puts its own directory first.
    await tracingLauncher(`${c.dir}/runc`, which("runc"), trace);
    const args = ["run", "--runtime", launcher, "--runtime-config-path", LINUX_CONTAINER_CONFIG];
    await c.ctrMust(...args, "--rm", IMAGE, "warm", "/bin/true");
    await Deno.writeTextFile(trace, "");
    const logBefore = (await c.log()).length;
    const t0 = Date.now();
    const r = await c.ctrMust(...args, "--rm", IMAGE, "timed", "/bin/true");
    const t1 = Date.now();
    await new Promise((res) => setTimeout(res, 300));
    const events: [number, string][] = [[t0, "ctr run invoked"], [t1, `ctr run returned ${r}`]];
    for (const line of (await c.log()).slice(logBefore).split("\n")) {
      const t = stampMs(line);
      if (t === undefined) continue;
      const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
      const extra = [/method="?(\w+)/, / ms=([\d.]+)/].map((re) => re.exec(line)?.[1]).filter(
        Boolean,
      );
      events.push([t, `containerd log: ${msg.slice(0, 110)}${extra.length ? ` [${extra}]` : ""}`]);
    }
    for (const line of (await Deno.readTextFile(trace)).split("\n").filter(Boolean)) {
      const [last, , s, e, ...args] = line.split(" ");
      // runc is called with --root; the shim with containerd's flags.
      const runc = args.includes("--root") ? args.find((a) => RUNC_COMMANDS.has(a)) : undefined;
      const what = runc ? `runc ${runc}` : `shim ${last}`;
      const ms = ((Number(e) - Number(s)) * 1000).toFixed(1);
      events.push([Number(s) * 1000, `${what} begins`]);
      events.push([Number(e) * 1000, `${what} ends (${ms} ms)`]);
    }
    events.sort((x, y) => x[0] - y[0]);
    for (const [t, what] of events) console.log(`${(t - t0).toFixed(1).padStart(8)} ms  ${what}`);
  } finally {
    await c.stop();
  }
}
