/**
 * Upstream's Dragonball configuration (`shared_fs = "inline-virtio-fs"`)
 * selects the built-in VMM's own virtio-fs: the config loads, the share
 * kind is chosen without refusal, and the driver takes the share device.
 * (The VM group runs it for real; this is the unit-level wiring.)
 */
import { assertEquals } from "./assert.ts";
import { loadConfig } from "../config/load.ts";
import { createHypervisor } from "../hypervisor/factory.ts";
import { chooseShareFs, ShareFs } from "../resource/share_fs/share_fs.ts";
import { SharedLayout } from "../resource/share_fs/layout.ts";

const UPSTREAM =
  new URL("../config/testdata/upstream/configuration-dragonball.toml", import.meta.url)
    .pathname;

Deno.test("upstream's Dragonball configuration selects inline virtio-fs on the built-in VMM", async () => {
  const cfg = await loadConfig({ path: UPSTREAM, host: { cpus: 4, memoryMiB: 8192 } });
  assertEquals(cfg.hypervisorName, "dragonball");
  const hv = cfg.hypervisor!;
  assertEquals([hv.shared_fs, hv.virtio_fs_cache], ["inline-virtio-fs", "auto"]);
  const root = Deno.makeTempDirSync();
  const d = createHypervisor(cfg.hypervisorName!, hv, { runRoot: root });
  try {
    const caps = d.capabilities();
    const kind = chooseShareFs(hv.shared_fs, caps.fsSharing, caps.inlineVirtioFs);
    assertEquals(kind, "inline-virtio-fs");
    await d.prepareVm({ id: "sb1" });
    const share = new ShareFs(new SharedLayout(`${root}/sb1`), kind, {
      cache: hv.virtio_fs_cache,
      extraArgs: hv.virtio_fs_extra_args,
      cacheSizeMib: hv.virtio_fs_is_dax ? hv.virtio_fs_cache_size : 0,
    });
    await share.attach({ attach: (dev) => d.addDevice(dev) });
    assertEquals(share.storages().map((s) => [s.driver, s.fstype, s.source]), [
      ["virtio-fs", "virtiofs", "kataShared"],
    ]);
    await share.detach();
  } finally {
    await d.cleanup();
    Deno.removeSync(root, { recursive: true });
  }
});
