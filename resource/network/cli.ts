/**
 * `shim-ctl net scan|attach|detach --netns PATH`: the network resource
 * without a VM. `scan` prints the pod links as endpoints; `attach` creates
 * the taps (or macvtaps) and the model's plumbing, records what it made and
 * prints it; `detach` removes exactly what the record lists.
 * @module
 */
import { HelpRequested, parseFlags, usage } from "../../common/flags.ts";
import { InvalidArgumentError, MultipleErrors } from "../../common/errors.ts";
import { withRtNetlink } from "../../ffi/netlink.ts";
import { agentInterface, agentRoutes } from "./agent_info.ts";
import { type EndpointKind, endpointKind, modelFor, parseModel } from "./classify.ts";
import { physicalLinkUnsupported } from "./physical_endpoint.ts";
import { plumb, type Plumbing, unplumb } from "./plumbing.ts";
import { readRecord, RECORD_DIR, recordPath, removeRecord, writeRecord } from "./record.ts";
import { type ScannedLink, scanNetns, tapName } from "./scan.ts";

const FLAGS = {
  netns: { kind: "string", usage: "path of the pod network namespace (required)" },
  model: {
    kind: "string",
    usage: "internetworking model: tcfilter, macvtap, none or l3forwarding (attach)",
    default: "tcfilter",
  },
  queues: { kind: "int", usage: "queues per tap (attach)", default: 1 },
  "record-dir": {
    kind: "string",
    usage: "folder of the attach records",
    default: RECORD_DIR,
  },
} as const;

const SUBCOMMANDS = ["scan", "attach", "detach"];

/** Runs `shim-ctl net <sub> [flags]`; returns the exit code. */
export async function netCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "-help" || sub === "--help") {
    console.log(
      `Usage: containerd-shim-kata-v2 shim-ctl net ${SUBCOMMANDS.join("|")} [flags]\n${
        usage(FLAGS)
      }`,
    );
    return 0;
  }
  if (!SUBCOMMANDS.includes(sub)) {
    console.error(
      `shim-ctl net: unknown subcommand ${JSON.stringify(sub ?? "")} (expected one of ${
        SUBCOMMANDS.join(", ")
      })\n${usage(FLAGS)}`,
    );
    return 2;
  }
  let flags;
  try {
    flags = parseFlags(rest, FLAGS);
    if (!flags.values.netns) throw new InvalidArgumentError("Flag -netns is required");
    if (flags.rest.length) {
      throw new InvalidArgumentError(`Unexpected arguments: ${flags.rest.join(" ")}`);
    }
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(e.message);
      return 0;
    }
    console.error(`shim-ctl net ${sub}: ${(e as Error).message}\n${usage(FLAGS)}`);
    return 2;
  }
  const { netns, model, queues } = flags.values;
  const recordDir = flags.values["record-dir"];
  try {
    await Deno.stat(netns).catch(() => {
      throw new InvalidArgumentError(`Network namespace ${netns} does not exist`);
    });
    let out: unknown;
    switch (sub) {
      case "scan":
        out = scan(netns);
        break;
      case "attach":
        out = await attach(netns, parseModel(model), queues, recordDir);
        break;
      default:
        out = await detach(netns, recordDir);
    }
    console.log(JSON.stringify(out, null, 2));
    return 0;
  } catch (e) {
    const err = e as Error;
    const detail = err instanceof MultipleErrors
      ? `${err.message}: ${err.errors.map((x) => (x as Error).message).join("; ")}`
      : err.message;
    console.error(`shim-ctl net ${sub}: ${detail}`);
    return 1;
  }
}

/** Classifies every link first so nothing is created when one link is unsupported. */
function classifyAll(netns: string): { s: ScannedLink; kind: EndpointKind }[] {
  return scanNetns(netns).map((s) => ({ s, kind: endpointKind(s) }));
}

function scan(netns: string) {
  return {
    endpoints: classifyAll(netns).map(({ s, kind }) => {
      const iface = agentInterface(s);
      return {
        name: s.link.name,
        type: s.type,
        endpoint: kind,
        mac: s.link.mac,
        mtu: s.link.mtu,
        addresses: iface.IPAddresses.map((a) => `${a.address}/${a.mask}`),
        routes: agentRoutes(s),
        ...(s.busInfo ? { busInfo: s.busInfo } : {}),
      };
    }),
  };
}

async function attach(
  netns: string,
  model: ReturnType<typeof parseModel>,
  queues: number,
  recordDir: string,
) {
  if (!Number.isInteger(queues) || queues < 1) {
    throw new InvalidArgumentError(`Invalid queue count ${queues}: must be >= 1`);
  }
  const path = await recordPath(netns, recordDir);
  if (await readRecord(path)) {
    throw new InvalidArgumentError(
      `Network namespace ${netns} is already attached (record ${path}); detach it first`,
    );
  }
  const links = classifyAll(netns);
  if (model === "l3forwarding" && links.length > 1) {
    throw new InvalidArgumentError(
      `Internetworking model "l3forwarding" supports one interface per network namespace, found ${links.length}`,
    );
  }
  const physical = links.find((l) => l.kind === "physical");
  if (physical) {
    throw physicalLinkUnsupported(physical.s.link.name, physical.s.busInfo);
  }
  const created: Plumbing[] = [];
  withRtNetlink(netns, (nl) => {
    try {
      for (const { s, kind } of links) {
        created.push(plumb(nl, {
          netns,
          link: s.link,
          addresses: s.addresses,
          tap: tapName(s.idx),
          queues,
          model: modelFor(kind, model),
        }));
      }
    } catch (e) {
      for (const rec of created.reverse()) unplumb(nl, rec);
      throw e;
    }
  });
  try {
    await writeRecord(path, { version: 1, netns, created });
  } catch (e) {
    withRtNetlink(netns, (nl) => created.forEach((rec) => unplumb(nl, rec)));
    throw e;
  }
  return {
    netns,
    record: path,
    endpoints: created.map((rec) => {
      const l = links.find((x) => x.s.link.name === rec.link)!;
      return {
        name: rec.link,
        type: l.s.type,
        endpoint: l.kind,
        guestMac: l.s.link.mac,
        mtu: l.s.link.mtu,
        ...rec,
      };
    }),
  };
}

async function detach(netns: string, recordDir: string) {
  const path = await recordPath(netns, recordDir);
  const rec = await readRecord(path);
  if (!rec) throw new InvalidArgumentError(`No network attach record for ${netns} (${path})`);
  const errors: unknown[] = [];
  withRtNetlink(netns, (nl) => {
    for (const p of [...rec.created].reverse()) {
      try {
        unplumb(nl, p);
      } catch (e) {
        errors.push(e);
      }
    }
  });
  if (errors.length) {
    throw new MultipleErrors(errors, `Detaching ${netns} left objects behind (record kept)`);
  }
  await removeRecord(path);
  return { netns, removed: rec.created };
}
