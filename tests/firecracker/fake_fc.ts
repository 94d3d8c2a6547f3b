/**
 * Test fixture for the Firecracker driver tests: a temp dir with a kernel,
 * an image and a data disk, and a config section that runs the FAKE
 * Firecracker (`fake-firecracker` → `fake_fc_server.ts`; no Firecracker
 * binary is obtainable here) with its request log.
 * @module
 */
import { runChecked } from "../command.ts";
import type { FirecrackerConfigSection } from "../../hypervisor/firecracker/options.ts";

/** The fake firecracker executable. */
export const FAKE_FC = new URL("./fake-firecracker", import.meta.url).pathname;

/** One request the fake logged. */
export interface Logged {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  status: number;
  state: string;
}

/** A temp dir with a kernel, an image and a data disk, and the request log of the fake. */
export async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "rtts-fc-" });
  await Deno.writeFile(`${dir}/vmlinux`, new Uint8Array(16));
  await Deno.writeFile(`${dir}/rootfs.img`, new Uint8Array(16));
  await Deno.writeFile(`${dir}/disk.img`, new Uint8Array(16));
  const requestLog = `${dir}/requests.jsonl`;
  const section: FirecrackerConfigSection = {
    path: FAKE_FC,
    jailer_path: "",
    kernel: `${dir}/vmlinux`,
    image: `${dir}/rootfs.img`,
    initrd: "",
    rootfs_type: "ext4",
    kernel_params: "console=ttyS0 agent.log_vport=1025",
    default_vcpus: 1.5,
    default_memory: 256,
    disable_seccomp: false,
    enable_debug: false,
    network_queues: 1,
    rx_rate_limiter_max_rate: 1000000,
    tx_rate_limiter_max_rate: 0,
    disk_rate_limiter_bw_max_rate: 0,
    disk_rate_limiter_bw_one_time_burst: 0,
    disk_rate_limiter_ops_max_rate: 0,
    disk_rate_limiter_ops_one_time_burst: 0,
  };
  const requests = async (): Promise<Logged[]> =>
    (await Deno.readTextFile(requestLog)).trim().split("\n").map((l) => JSON.parse(l));
  return { dir, section, requestLog, requests };
}

/** Runs `fn` with FAKE_FC_REQUEST_LOG set for the spawned fake. */
export async function withLog<T>(path: string, fn: () => Promise<T>): Promise<T> {
  Deno.env.set("FAKE_FC_REQUEST_LOG", path);
  try {
    return await fn();
  } finally {
    Deno.env.delete("FAKE_FC_REQUEST_LOG");
  }
}

/** A single-queue NIC on tap `tapName`. */
export const nic = (id: string, tapName: string) => ({
  kind: "network" as const,
  id,
  tapName,
  guestMac: "02:00:ca:fe:00:01",
  queues: 1,
});

/** Runs a command and returns its stdout; throws with its output when it fails. */
export const sh = (cmd: string, ...args: string[]) => runChecked(cmd, args);
