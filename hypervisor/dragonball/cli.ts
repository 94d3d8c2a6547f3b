/**
 * `containerd-shim-kata-v2 vmm`: boots a VM with the built-in VMM in the
 * foreground, the guest's serial console on stdout, and exits 0 when the
 * guest shuts down (reboot or power-off request) or non-zero on failure.
 * @module
 */
import { HelpRequested, parseFlags, usage } from "../../common/flags.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { Vm, type VmConfig } from "./vm.ts";
import type { VirtioDevice } from "./devices/virtio/device.ts";
import { type DeviceSpec, openDevices } from "./device_specs.ts";
import { mapImageFile } from "./image_file.ts";

/** Flags of the `vmm` action. */
const VMM_FLAGS = {
  kernel: { kind: "string", usage: "kernel image: ELF vmlinux or bzImage (required)" },
  initrd: { kind: "string", usage: "initial ramdisk" },
  cmdline: {
    kind: "string",
    usage: "kernel command line",
    default: "console=ttyS0 reboot=k panic=1 pci=off",
  },
  memory: { kind: "int", usage: "guest memory in MiB", default: 256 },
  vcpus: { kind: "int", usage: "number of vCPUs", default: 1 },
  drive: { kind: "list", usage: "virtio-blk disk FILE[,ro] (repeatable)" },
  share: { kind: "list", usage: "virtio-9p share TAG=DIR[,ro] (repeatable)" },
  virtiofs: {
    kind: "list",
    usage: "virtio-fs share TAG=DIR[,ro][,cache=never|auto|always], served inline (repeatable)",
  },
  net: { kind: "string", usage: "virtio-net on this existing tap device" },
  netns: { kind: "string", usage: "network namespace path holding the --net tap" },
  mac: { kind: "string", usage: "guest MAC address for --net (default: random)" },
  "vsock-uds": { kind: "string", usage: "hybrid vsock: host Unix socket path" },
  "vsock-cid": { kind: "int", usage: "guest vsock CID", default: 3 },
  boot: { kind: "string", usage: "kernel entry: auto, linux64 or pvh", default: "auto" },
} as const;

/** Parses a `--drive` value: `FILE` or `FILE,ro`. */
export function parseDrive(value: string): { path: string; readOnly: boolean } {
  const parts = value.split(",");
  const path = parts[0];
  if (!path) throw new InvalidArgumentError(`Drive ${JSON.stringify(value)} names no file`);
  let readOnly = false;
  for (const opt of parts.slice(1)) {
    if (opt === "ro") readOnly = true;
    else if (opt !== "rw") {
      throw new InvalidArgumentError(
        `Drive option ${JSON.stringify(opt)} is not supported (ro or rw)`,
      );
    }
  }
  return { path, readOnly };
}

/** A parsed `--share` or `--virtiofs` value. */
interface ShareFlag {
  tag: string;
  dir: string;
  readOnly: boolean;
  /** `virtio_fs_cache` (virtio-fs only). */
  cache?: string;
}

/**
 * Parses a `--share` value, `TAG=DIR[,ro]`, or with `virtiofs` set a
 * `--virtiofs` value, which may also name its cache mode (`cache=auto`).
 */
export function parseShare(value: string, virtiofs = false): ShareFlag {
  const eq = value.indexOf("=");
  const tag = eq > 0 ? value.slice(0, eq) : "";
  const [dir, ...opts] = value.slice(eq + 1).split(",");
  if (!tag || !dir) {
    throw new InvalidArgumentError(`Share ${JSON.stringify(value)} is not TAG=DIR[,ro]`);
  }
  const share: ShareFlag = { tag, dir, readOnly: false };
  for (const opt of opts) {
    if (opt === "ro") share.readOnly = true;
    else if (virtiofs && opt.startsWith("cache=")) share.cache = opt.slice("cache=".length);
    else if (opt !== "rw") {
      throw new InvalidArgumentError(
        `Share option ${JSON.stringify(opt)} is not supported (ro or rw${
          virtiofs ? ", cache=MODE" : ""
        })`,
      );
    }
  }
  return share;
}

/** The devices the flags ask for. */
export function deviceSpecsFromFlags(values: {
  drive: string[];
  share: string[];
  virtiofs?: string[];
  net: string;
  netns: string;
  mac: string;
  "vsock-uds": string;
  "vsock-cid": number;
}): DeviceSpec[] {
  const specs: DeviceSpec[] = [];
  for (const d of values.drive) specs.push({ kind: "block", ...parseDrive(d) });
  for (const s of values.share) specs.push({ kind: "9p", ...parseShare(s) });
  for (const s of values.virtiofs ?? []) specs.push({ kind: "virtio-fs", ...parseShare(s, true) });
  if (values.net) {
    specs.push({ kind: "net", tap: values.net, netns: values.netns, mac: values.mac || undefined });
  }
  if (values["vsock-uds"]) {
    specs.push({ kind: "vsock", udsPath: values["vsock-uds"], guestCid: values["vsock-cid"] });
  }
  return specs;
}

/** Runs the `vmm` action; returns the process exit code. */
export async function vmmCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(args, VMM_FLAGS);
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(`Usage: containerd-shim-kata-v2 vmm [flags]\n${usage(VMM_FLAGS)}`);
      return 0;
    }
    throw e;
  }
  const v = parsed.values;
  if (parsed.rest.length > 0) {
    throw new InvalidArgumentError(
      `Vmm takes no positional arguments, got ${parsed.rest.join(" ")}`,
    );
  }
  if (!v.kernel) throw new InvalidArgumentError("Vmm needs --kernel");
  if (!["auto", "linux64", "pvh"].includes(v.boot)) {
    throw new InvalidArgumentError(
      `Boot protocol ${JSON.stringify(v.boot)} is not one of auto, linux64, pvh`,
    );
  }
  const kernel = mapImageFile("kernel", v.kernel);
  const initrd = v.initrd ? mapImageFile("initrd", v.initrd) : undefined;
  let devices: VirtioDevice[];
  try {
    devices = await openDevices(deviceSpecsFromFlags(v));
  } catch (e) {
    kernel.close();
    initrd?.close();
    throw e;
  }
  const config: VmConfig = {
    kernel: kernel.bytes,
    initrd: initrd?.bytes,
    cmdline: v.cmdline,
    memoryMib: v.memory,
    vcpus: v.vcpus,
    devices,
    bootProtocol: v.boot as VmConfig["bootProtocol"],
    console: (data) => {
      let off = 0;
      while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
    },
  };
  let vm: Vm;
  try {
    vm = await Vm.create(config);
  } catch (e) {
    for (const d of devices) await d.close();
    throw e;
  } finally {
    kernel.close(); // loaded into guest memory (or failed): the mappings are done
    initrd?.close();
  }
  const onSignal = () => void vm.stop();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    try {
      await vm.start();
    } catch (e) {
      await vm.stop();
      throw e;
    }
    if (Deno.env.get("DRAGONBALL_PROFILE")) {
      console.error(`vmm: phases (ms) ${JSON.stringify(Object.fromEntries(vm.phases))}`);
    }
    const exit = await vm.wait();
    if (Deno.env.get("DRAGONBALL_EXIT_STATS")) {
      console.error(`vmm: exits ${JSON.stringify(Object.fromEntries(vm.exitCounts))}`);
    }
    if (exit.kind === "failed") {
      console.error(`vmm: guest failed: ${exit.reason}`);
      return 1;
    }
    if (exit.kind === "shutdown") {
      console.error(exit.how === "poweroff" ? "vmm: guest powered off" : "vmm: guest rebooted");
    }
    if (exit.kind === "stopped") {
      // Stopped from outside (a signal): where each vCPU was is the evidence
      // for a guest that stopped making progress.
      console.error(`vmm: stopped; ${vm.vcpuReport().join("; ")}`);
    }
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
