import { assertEquals } from "../tests/assert.ts";
import { fillDefaults, fillSelection, fitToHost, hostResources } from "./adjust.ts";
import { parseConfigTree } from "./parse.ts";
import { Sources } from "./sources.ts";

function parse(tree: Record<string, unknown>) {
  return parseConfigTree(tree, new Sources("/f.toml"));
}

Deno.test("fillSelection: an empty hypervisor_name with several tables is upstream's dragonball", () => {
  const c = parse({ hypervisor: { qemu: {}, dragonball: {} } });
  fillSelection(c);
  assertEquals(c.runtime.hypervisor_name, "dragonball");
  assertEquals(c.runtime.agent_name, "kata");
  assertEquals(Object.keys(c.agent), ["kata"]);
});

Deno.test("fillDefaults: disable_block_device_use clears the block driver; cache none means never", () => {
  const c = parse({
    hypervisor: { qemu: { disable_block_device_use: true, virtio_fs_cache: "none" } },
  });
  fillDefaults(c);
  const hv = c.hypervisor.qemu;
  assertEquals(hv.block_device_driver, "");
  assertEquals(hv.virtio_fs_cache, "never");
  assertEquals(hv.path, "/usr/bin/qemu-system-x86_64");
  assertEquals(hv.memory_slots, 128);
  assertEquals(hv.default_vcpus, 1);
});

Deno.test("fitToHost: clamps vCPUs and memory to the host and keeps smaller values", () => {
  const c = parse({
    hypervisor: {
      qemu: {
        default_vcpus: 2,
        default_maxvcpus: 64,
        default_memory: 512,
        default_maxmemory: 1024,
      },
    },
  });
  fitToHost(c, { cpus: 8, memoryMiB: 4096 });
  const hv = c.hypervisor.qemu;
  assertEquals([hv.default_vcpus, hv.default_maxvcpus], [2, 8]);
  assertEquals([hv.default_memory, hv.default_maxmemory], [512, 1024]);
});

Deno.test("hostResources reads a positive CPU count and memory size on Linux", () => {
  const h = hostResources();
  assertEquals(h.cpus >= 1, true);
  assertEquals(h.memoryMiB > 0, true);
});
