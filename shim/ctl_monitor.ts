/**
 * `shim-ctl metrics` and `shim-ctl direct-volume`, with kata-ctl's
 * semantics: `add`/`remove` only write or delete the volume's
 * `mountInfo.json`; `stats`/`resize` find the sandbox that mounts the volume
 * (the mount info's `metadata.sandbox_id`, or `--sandbox`) and ask its
 * management socket.
 * @module
 */
import { InvalidArgumentError } from "../common/errors.ts";
import { type FlagSet, HelpRequested, parseFlags, usage } from "../common/flags.ts";
import { writeAll } from "../common/io.ts";
import { DEFAULT_PERSIST_ROOT, PERSIST_ROOT_ENV } from "../persist/state_store.ts";
import {
  addDirectVolume,
  parseMountInfo,
  readDirectVolume,
  removeDirectVolume,
} from "../resource/volume/direct_volume.ts";
import { monitorRequest } from "../runtimes/monitor/client.ts";
import { monitorSocketPath } from "../runtimes/monitor/server.ts";

const METRICS_FLAGS = {
  sandbox: {
    kind: "string",
    usage: "sandbox id (its shim serves /run/kata/<id>/shim-monitor.sock)",
  },
  "state-root": { kind: "string", usage: "state directory root (default /run/kata)" },
} as const;

const VOLUME_FLAGS = {
  "volume-path": { kind: "string", usage: "the volume's path as containers mount it" },
  "mount-info": {
    kind: "string",
    usage: 'add: JSON mount info, e.g. {"device":"/dev/loop0","fs_type":"ext4","options":[]}',
  },
  size: { kind: "int", usage: "resize: new size in bytes" },
  sandbox: {
    kind: "string",
    usage: "stats/resize: sandbox id (default: the mount info's metadata.sandbox_id)",
  },
  "state-root": { kind: "string", usage: "state directory root (default /run/kata)" },
} as const;

function parse<F extends FlagSet>(cmd: string, args: string[], spec: F, synopsis: string) {
  try {
    const p = parseFlags(args, spec);
    return p;
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(`Usage: containerd-shim-kata-v2 shim-ctl ${synopsis}\n${usage(spec)}`);
      return 0;
    }
    console.error(`shim-ctl ${cmd}: ${(e as Error).message}\n${usage(spec)}`);
    return 2;
  }
}

function socketOf(sandbox: string, stateRoot: string): string {
  const root = stateRoot || Deno.env.get(PERSIST_ROOT_ENV) || DEFAULT_PERSIST_ROOT;
  if (!/^[\w.-]+$/.test(sandbox) || sandbox === "." || sandbox === "..") {
    throw new InvalidArgumentError(`Sandbox id ${JSON.stringify(sandbox)} is not valid`);
  }
  return monitorSocketPath(`${root}/${sandbox}`);
}

/** `shim-ctl metrics --sandbox ID`: prints the sandbox's /metrics. */
export async function ctlMetrics(args: string[]): Promise<number> {
  const p = parse("metrics", args, METRICS_FLAGS, "metrics --sandbox ID [--state-root DIR]");
  if (typeof p === "number") return p;
  if (!p.values.sandbox) {
    console.error(`shim-ctl metrics: flag -sandbox is required\n${usage(METRICS_FLAGS)}`);
    return 2;
  }
  try {
    const r = await monitorRequest(
      socketOf(p.values.sandbox, p.values["state-root"]),
      "GET",
      "/metrics",
    );
    if (r.status !== 200) {
      console.error(`shim-ctl metrics: ${r.status} ${r.body.trim()}`);
      return 1;
    }
    await writeAll(Deno.stdout, new TextEncoder().encode(r.body));
    return 0;
  } catch (e) {
    console.error(`shim-ctl metrics: ${(e as Error).message}`);
    return 1;
  }
}

const VOLUME_SUBS = ["add", "remove", "stats", "resize"];
const VOLUME_SYNOPSIS =
  "direct-volume add|remove|stats|resize --volume-path PATH [--mount-info JSON] [--size BYTES] [--sandbox ID]";

/** `shim-ctl direct-volume add|remove|stats|resize`. */
export async function ctlDirectVolume(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "-help") {
    console.log(
      `Usage: containerd-shim-kata-v2 shim-ctl ${VOLUME_SYNOPSIS}\n${usage(VOLUME_FLAGS)}`,
    );
    return 0;
  }
  if (!VOLUME_SUBS.includes(sub)) {
    console.error(
      `shim-ctl direct-volume: unknown subcommand ${JSON.stringify(sub)} (expected one of ${
        VOLUME_SUBS.join(", ")
      })`,
    );
    return 2;
  }
  const p = parse(`direct-volume ${sub}`, rest, VOLUME_FLAGS, VOLUME_SYNOPSIS);
  if (typeof p === "number") return p;
  const v = p.values;
  const fail = (msg: string, code = 1) => {
    console.error(`shim-ctl direct-volume ${sub}: ${msg}`);
    return code;
  };
  if (!v["volume-path"]) return fail("flag -volume-path is required", 2);
  const volumePath = v["volume-path"];
  try {
    switch (sub) {
      case "add": {
        if (!v["mount-info"]) return fail("flag -mount-info is required", 2);
        const file = await addDirectVolume(volumePath, parseMountInfo(v["mount-info"]));
        console.log(file);
        return 0;
      }
      case "remove":
        await removeDirectVolume(volumePath);
        return 0;
      default: {
        const info = await readDirectVolume(volumePath);
        const sandbox = v.sandbox || info.metadata?.sandbox_id;
        if (!sandbox) {
          return fail(`no --sandbox given and the mount info of ${volumePath} names none`, 2);
        }
        const sock = socketOf(sandbox, v["state-root"]);
        const r = sub === "stats"
          ? await monitorRequest(
            sock,
            "GET",
            `/direct-volume/stats?path=${encodeURIComponent(volumePath)}`,
          )
          : await (() => {
            if (!(v.size > 0)) {
              throw new InvalidArgumentError("Flag -size (bytes, > 0) is required");
            }
            return monitorRequest(
              sock,
              "POST",
              "/direct-volume/resize",
              JSON.stringify({ volume_path: volumePath, size: v.size }),
            );
          })();
        if (r.status !== 200) return fail(`${r.status} ${r.body.trim()}`);
        if (r.body.trim()) console.log(r.body.trim());
        return 0;
      }
    }
  } catch (e) {
    return fail((e as Error).message);
  }
}
