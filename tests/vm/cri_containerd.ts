/**
 * What the CRI tests of the VM group share: a private containerd with the
 * CRI plugin on, whose handler `kata` runs our shim with the shipped
 * configuration of one VMM and the guest `scripts/build-guest` made.
 * @module
 */
import { Containerd } from "../containerd/harness.ts";
import { criClientFiles } from "../cri/cri_client.ts";
import { configWithBuiltGuest, SLOW_VM_CONTAINERD } from "./guest_config.ts";
import type { VmTestContext } from "./deadline.ts";

/**
 * Runs `body` with such a containerd for `hypervisor` (its configuration
 * gets `lines` in the hypervisor's section). containerd's log is the test's
 * evidence and, when `body` fails, its last 250 lines (loading chatter left
 * out) go to stderr; containerd is stopped and the configuration removed
 * whatever happens. The CRI client must have been built outside the test
 * host (`scripts/deno run -A tests/cri/cri_client.ts`).
 */
export async function withCriContainerd(
  ctx: VmTestContext,
  hypervisor: "dragonball" | "qemu",
  lines: string[],
  body: (c: Containerd) => Promise<void>,
): Promise<void> {
  ctx.step("the CRI client (prebuilt under .cache/cri)");
  await criClientFiles();
  const cfgDir = await Deno.makeTempDir({ prefix: `rts-cri-${hypervisor}-` });
  try {
    const config = await configWithBuiltGuest(hypervisor, cfgDir, [...lines]);
    ctx.step("containerd with the CRI plugin to start");
    const c = await Containerd.start({ ...SLOW_VM_CONTAINERD, cri: { configPath: config } });
    ctx.evidence("containerd log (with the shim's and the guest console's lines)", () => c.log());
    try {
      await body(c);
    } catch (err) {
      // containerd's log holds the shim's and the guest console's lines; the dir goes at stop().
      const log = (await c.log()).split("\n")
        .filter((l) => !/level=(debug|info) msg="(loading plugin|skip loading|sd notif)/.test(l));
      console.error(`containerd log (last 250 lines):\n${log.slice(-250).join("\n")}`);
      throw err;
    } finally {
      ctx.step("containerd's clean-up");
      await c.stop();
    }
  } finally {
    await Deno.remove(cfgDir, { recursive: true });
  }
}
