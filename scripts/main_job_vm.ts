/**
 * The VM half of the main job: a private containerd runs busybox through our
 * shim with the VirtContainer runtime on the built-in VMM (the shipped
 * `configuration-dragonball.toml`, plus a drop-in pointing at the guest that
 * `scripts/build-guest` made), and shows that the container ran in a VM: its
 * kernel boot id differs from the host's. `scripts/main-job` runs it inside
 * the nested test host where this machine cannot run VMs itself.
 * @module
 */
import { Containerd, IMAGE } from "../tests/containerd/harness.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "../tests/vm/guest_config.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function main(): Promise<number> {
  Deno.env.set("RTS_TEST_SHIM", `${ROOT}/dist/containerd-shim-kata-v2`);
  const dir = await Deno.makeTempDir({ prefix: "rts-main-job-vm-" });
  const c = await Containerd.start(SLOW_VM_CONTAINERD);
  try {
    const config = await configWithBuiltGuest("dragonball", dir);
    const hostBoot = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
    const script = "echo hello from a VM; uname -r; cat /proc/sys/kernel/random/boot_id";
    console.log(
      `$ ctr run --rm --runtime containerd-shim-kata-v2 --runtime-config-path ${config} ${IMAGE} vm-demo sh -c '${script}'`,
    );
    const started = performance.now();
    const r = await c.ctr(
      "run",
      "--rm",
      "--runtime",
      c.shim,
      "--runtime-config-path",
      config,
      IMAGE,
      "main-job-vm-demo",
      "sh",
      "-c",
      script,
    );
    await Deno.stdout.write(new TextEncoder().encode(r.stdout));
    if (r.code !== 0) console.error(r.stderr.trimEnd());
    const guestBoot = r.stdout.trim().split("\n").pop()?.trim() ?? "";
    console.log(
      `exit code ${r.code} after ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `host boot id ${hostBoot}: the container ${
          guestBoot && guestBoot !== hostBoot ? "ran in its own VM" : "did NOT run in a VM"
        }`,
    );
    await c.assertNoLeaks("main-job-vm-demo");
    console.log("no shim process, mount, FIFO or state left behind");
    return r.code === 0 && guestBoot !== "" && guestBoot !== hostBoot ? 0 : 1;
  } finally {
    await c.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.exit(await main());
