/**
 * What the VM end-to-end runs share: a copy of a shipped configuration with a
 * drop-in that points it at the guest `scripts/build-guest` made, the
 * containerd options that give a nested guest time to boot, the host's VMM
 * processes and the containerd log a failure prints.
 * @module
 */
import type { Containerd } from "../containerd/harness.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** Debian 12's virtiofsd (qemu-system-common): QEMU's C daemon. */
export const DEBIAN_VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
/** Where `scripts/build-guest` leaves the guest kernel and initrd. */
export const GUEST = `${ROOT}/.cache/guest`;

/**
 * The drop-in lines that give a nested guest's agent time: under software
 * emulation a boot takes tens of seconds, and a single agent call
 * (StartContainer) can take longer than 30 s. Test-only; never shipped.
 */
export const TEST_AGENT_TIMEOUTS: readonly string[] = [
  "[agent.kata]",
  "dial_timeout_ms = 100",
  "reconnect_timeout_ms = 240000",
  "request_timeout_ms = 240000",
];

/**
 * Copies `config/configuration-<hypervisor>.toml` into `dir` and adds
 * `config.d/50-built-guest.toml` (kernel, initrd, 1 GiB, long agent timeouts,
 * for QEMU Debian's virtiofsd as `virtio_fs_daemon`, plus `hypervisorLines`
 * in the hypervisor's section); returns the copy's path.
 */
export async function configWithBuiltGuest(
  hypervisor: "qemu" | "dragonball",
  dir: string,
  hypervisorLines: string[] = [],
): Promise<string> {
  for (const f of ["vmlinux", "kata-containers-initrd.img"]) {
    await Deno.stat(`${GUEST}/${f}`).catch(() => {
      throw new Error(`Guest artifact ${GUEST}/${f} is missing: run scripts/build-guest`);
    });
  }
  // A key given in hypervisorLines wins (one TOML table cannot hold it twice).
  const sets = (key: string) => hypervisorLines.some((l) => new RegExp(`^\\s*${key}\\s*=`).test(l));
  const file = `${dir}/configuration-${hypervisor}.toml`;
  await Deno.copyFile(`${ROOT}/config/configuration-${hypervisor}.toml`, file);
  await Deno.mkdir(`${dir}/config.d`);
  await Deno.writeTextFile(
    `${dir}/config.d/50-built-guest.toml`,
    [
      `[hypervisor.${hypervisor}]`,
      `kernel = "${GUEST}/vmlinux"`,
      'image = ""',
      `initrd = "${GUEST}/kata-containers-initrd.img"`,
      "default_memory = 1024",
      // The shipped QEMU config shares files with virtio-fs through a daemon at
      // upstream's path; Debian ships QEMU's C virtiofsd elsewhere.
      ...(hypervisor === "qemu" && !sets("virtio_fs_daemon")
        ? [
          `virtio_fs_daemon = "${DEBIAN_VIRTIOFSD}"`,
          `valid_virtio_fs_daemon_paths = ["${DEBIAN_VIRTIOFSD}"]`,
        ]
        : []),
      // QEMU guests keep the kernel's default console log level (no `quiet`),
      // although each console byte is an I/O exit under nested emulation: with
      // `quiet` a hung guest said only "task khugepaged blocked for more than
      // 120 seconds", its stack and the warning that tainted it (W) being below
      // the console's level. The boots that stalled mid-line on the console were
      // the test host's nested-paging bug (scripts/testhost), not the console.
      ...hypervisorLines,
      "",
      ...TEST_AGENT_TIMEOUTS,
      "",
    ].join("\n"),
  );
  return file;
}

/**
 * `Containerd.start()` options for VM sandboxes: containerd's shim load
 * timeout raised, since Deno starts slowly under emulation (`start` itself
 * waits for nothing: it hands the bound socket to the server).
 */
export const SLOW_VM_CONTAINERD = {
  extraConfig: ["[timeouts]", '  "io.containerd.timeout.shim.load" = "60s"'],
};

/** Pids of VMM processes on this host: QEMU and its virtiofsd. */
export async function vmmPids(): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const comm = await Deno.readTextFile(`/proc/${e.name}/comm`).catch(() => "");
    if (comm.startsWith("qemu") || comm.startsWith("virtiofsd")) out.push(Number(e.name));
  }
  return out;
}

/**
 * Prints the last 250 lines of containerd's log, which holds the shim's and
 * the guest console's lines, without the plugin-loading noise: a failed
 * test's evidence (the directory goes at stop()).
 */
export async function printContainerdLog(c: Containerd): Promise<void> {
  const lines = (await c.log()).split("\n")
    .filter((l) => !/level=(debug|info) msg="(loading plugin|skip loading|sd notif)/.test(l));
  console.error(`containerd log (last 250 lines):\n${lines.slice(-250).join("\n")}`);
}
