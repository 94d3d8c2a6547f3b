/**
 * What the VM end-to-end runs share: a copy of a shipped configuration with a
 * drop-in that points it at the guest `scripts/build-guest` made, and the
 * containerd options that give a nested guest time to boot.
 * @module
 */

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** Where `scripts/build-guest` leaves the guest kernel and initrd. */
export const GUEST = `${ROOT}/.cache/guest`;

/**
 * Copies `config/configuration-<hypervisor>.toml` into `dir` and adds
 * `config.d/50-built-guest.toml` (kernel, initrd, 1 GiB, long agent timeouts,
 * plus `hypervisorLines` in the hypervisor's section); returns the copy's path.
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
      ...hypervisorLines,
      "",
      "[agent.kata]",
      // A nested guest under software emulation boots in tens of seconds.
      "dial_timeout_ms = 100",
      "reconnect_timeout_ms = 240000",
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
