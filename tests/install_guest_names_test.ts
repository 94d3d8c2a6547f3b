/**
 * Install as shipped: every kernel, initrd and image path that the shipped
 * configurations of a runnable hypervisor (dragonball, QEMU, Cloud
 * Hypervisor, Firecracker) name is one that `scripts/build-guest --install`
 * installs, with an artifact of the right kind (a `vmlinux*` kernel gets the
 * PVH vmlinux, `vmlinuz*` the bzImage). The confidential configurations'
 * artifacts (SE, coco) are not built here, and `check` says so.
 */
import { assert, assertEquals } from "./assert.ts";
import { loadConfig } from "../config/load.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const RUNNABLE = ["dragonball", "qemu", "clh", "fc"];

Deno.test("build-guest --install covers every guest path the runnable shipped configurations name", async () => {
  const out = await new Deno.Command(`${ROOT}/scripts/build-guest`, {
    args: ["--list-install"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const installs = new Map(
    new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
      l.split(" ") as [string, string]
    ),
  );
  for (const name of RUNNABLE) {
    const loaded = await loadConfig({
      path: `${ROOT}/config/configuration-${name}.toml`,
      host: { cpus: 2, memoryMiB: 4096 },
    });
    const hv = loaded.hypervisor!;
    assert(hv.kernel !== "", `${name} names a kernel`);
    const kernel = installs.get(hv.kernel);
    assertEquals(
      kernel,
      hv.kernel.split("/").pop()!.startsWith("vmlinuz") ? "vmlinuz" : "vmlinux",
      `${name}: kernel ${hv.kernel}`,
    );
    for (const p of [hv.initrd, hv.image].filter((p) => p)) {
      assert(installs.has(p), `${name}: ${p} is installed by build-guest --install`);
    }
    assert(hv.initrd || hv.image, `${name} names an initrd or image`);
  }
});
