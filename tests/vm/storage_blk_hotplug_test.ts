/**
 * VM group: block hotplug in the built-in VMM through its placeholder
 * virtio-blk slots, booted for real (inside the nested KVM test host). The
 * VM boots with empty slots; the test attaches disk A after boot, the guest
 * sees its capacity appear (configuration-change interrupt), reads A's marker
 * and writes it back at sector 8, which the test reads from A's file; the
 * test detaches A (the guest sees size 0), attaches B in the same slot, and
 * the guest reads B's marker (not a cached A) and writes it back into B. Then
 * every slot is filled and one more attachment fails with a clear error.
 *
 * The guest assets come from tests/vm/vmm_assets.ts; this file's guest
 * script is built into its own initrd by `scripts/deno run -A
 * tests/vm/storage_blk_hotplug_test.ts --assets` (done outside the test host,
 * where gcc and cpio run at full speed; inside, it is built if missing).
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  BLOCK_SLOTS,
  Dragonball,
  dragonballOptionsFromConfig,
} from "../../hypervisor/dragonball/driver.ts";
import { ensureKvm, kernelAssets, markerDisk, TEST_INIT, testInitrd } from "./vmm_assets.ts";
import { until, vmTest } from "./deadline.ts";
import { needs } from "../tier.ts";

/** The guest side: waits for the slot's capacity to come, go and come again. */
const HOTPLUG_SCRIPT = `
if grep -q vmmtest.hotplug=1 /proc/cmdline; then
  size() { cat /sys/block/vda/size 2>/dev/null || echo 0; }
  wait_size() { # 1: until non-zero, 0: until zero
    i=0
    while [ $i -lt 3000 ]; do
      s=$(size)
      if [ "$1" = 1 ] && [ "$s" != 0 ]; then return 0; fi
      if [ "$1" = 0 ] && [ "$s" = 0 ]; then return 0; fi
      sleep 0.1; i=$((i+1))
    done
    return 1
  }
  echo_back() { # reads the marker (no stale cache) and writes it back at sector 8
    blockdev --flushbufs /dev/vda
    m=$(head -c 16 /dev/vda | tr -d '\\0')
    echo "VMM-HP-READ=$m size=$(size) serial=$(cat /sys/block/vda/serial 2>/dev/null)"
    echo "GUEST-SAW-$m" | dd of=/dev/vda bs=512 seek=8 conv=sync,notrunc 2>/dev/null
    sync; blockdev --flushbufs /dev/vda
  }
  wait_size 1 && echo_back
  # The host may detach and re-attach faster than this loop polls under
  # emulation, so the second disk is recognised by its different marker.
  first=$m
  i=0
  while [ $i -lt 3000 ]; do
    if [ "$(size)" = 0 ]; then gone=1; fi
    blockdev --flushbufs /dev/vda 2>/dev/null
    now=$(head -c 16 /dev/vda 2>/dev/null | tr -d '\\0')
    if [ "$(size)" != 0 ] && [ -n "$now" ] && [ "$now" != "$first" ]; then break; fi
    sleep 0.1; i=$((i+1))
  done
  echo "VMM-HP-GONE-SEEN=\${gone:-0}"
  echo_back
fi
`;

/** The test guest's init with the hotplug script before its hold. */
const HOTPLUG_INIT = TEST_INIT.replace("hold=$(", `${HOTPLUG_SCRIPT}\nhold=$(`);

/** The text the guest wrote back at sector 8 of `file`, once it is there. */
function sawIn(file: string): string | undefined {
  const data = Deno.readFileSync(file).subarray(8 * 512, 8 * 512 + 32);
  const text = new TextDecoder().decode(data).replace(/\0.*$/s, "").trim();
  return text.startsWith("GUEST-SAW-") ? text : undefined;
}

if (import.meta.main && Deno.args.includes("--assets")) {
  console.log(await testInitrd(HOTPLUG_INIT));
  Deno.exit(0);
}

vmTest({
  name:
    "built-in VMM block slots: attach after boot, guest I/O, detach, attach again; one more than the slots fails",
  deadlineMs: 240_000,
  ignore: needs({ paths: ["/dev/kvm"] }).ignore,
}, async (ctx) => {
  ctx.step("KVM modules and the guest assets");
  await ensureKvm();
  const k = await kernelAssets();
  const root = await Deno.makeTempDir({ prefix: "vmm-hotplug-" });
  const disk = (name: string) => {
    const p = `${root}/${name}.img`;
    markerDisk(p, `DISK-${name}`);
    return p;
  };
  const d = new Dragonball(dragonballOptionsFromConfig({
    kernel: k.vmlinux,
    initrd: await testInitrd(HOTPLUG_INIT),
    kernel_params: "vmmtest.hotplug=1 vmmtest.hold=600",
    default_vcpus: 1,
    default_memory: 256,
  }, `${root}/run`));
  ctx.onDeadline(() => d.stopVm().catch(() => {}));
  try {
    ctx.step("prepareVm and startVm (the guest boots with empty slots)");
    await d.prepareVm({ id: "hotplug-1" });
    await d.addDevice({ kind: "vsock", guestCid: 3 });
    await d.startVm(120_000);
    assert(d.capabilities().blockHotplug);

    const a = disk("A");
    const addedA = await d.addDevice({ kind: "block", id: "blk-a", path: a, readOnly: false });
    assertEquals(addedA.kind === "block" && addedA.guestPath, "/dev/vda");
    ctx.step("the guest reads disk A and writes back into it");
    assertEquals(await until("GUEST-SAW in A", () => sawIn(a), ctx.signal), "GUEST-SAW-DISK-A");

    ctx.step("detach A, attach B in the same slot");
    await d.removeDevice(addedA);
    const b = disk("B");
    const addedB = await d.addDevice({ kind: "block", id: "blk-b", path: b, readOnly: false });
    assertEquals(addedB.kind === "block" && addedB.guestPath, "/dev/vda", "the freed slot");
    assertEquals(await until("GUEST-SAW in B", () => sawIn(b), ctx.signal), "GUEST-SAW-DISK-B");
    assertEquals(sawIn(a), "GUEST-SAW-DISK-A", "A untouched after its detach");

    ctx.step("fill every slot, then one more");
    for (let i = 1; i < BLOCK_SLOTS; i++) {
      await d.addDevice({ kind: "block", id: `blk-${i}`, path: disk(`F${i}`), readOnly: true });
    }
    await assertRejects(
      () => d.addDevice({ kind: "block", id: "blk-x", path: disk("X"), readOnly: true }),
      Error,
      `all ${BLOCK_SLOTS} built-in VMM block slots are in use`,
    );

    ctx.step("stopVm");
    await d.stopVm();
  } finally {
    await d.cleanup();
    await Deno.remove(root, { recursive: true });
  }
});
