import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import { ConfigError } from "../../common/errors.ts";
import { qemuCommandLine } from "./command_line.ts";
import { qemuOptionsFromConfig } from "./options.ts";
import { HOST, SECTION } from "./options_testing.ts";

Deno.test("QEMU config mapping refuses what it cannot run", () => {
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, machine_type: "pc" }, HOST),
    ConfigError,
    "machine_type",
  );
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, default_vcpus: 8 }, HOST),
    ConfigError,
    "exceeds the maximum 4",
  );
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, default_memory: 9000 }, HOST),
    ConfigError,
    "default_memory",
  );
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, initrd: "/i" }, HOST),
    ConfigError,
    "both set",
  );
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, vm_rootfs_driver: "nvdimm" }, HOST),
    ConfigError,
    "vm_rootfs_driver",
  );
  const o = qemuOptionsFromConfig({
    ...SECTION,
    default_vcpus: 1.2,
    default_maxvcpus: 16,
    pcie_root_port: 0,
  }, HOST);
  assertEquals([o.vcpus, o.maxVcpus, o.hotplugPorts, o.maxMemoryMib], [2, 4, 4, 8192]);
  const io = qemuOptionsFromConfig({
    ...SECTION,
    vm_rootfs_driver: "virtio-blk",
    block_device_aio: "io_uring",
    block_device_cache_set: true,
    block_device_cache_direct: true,
  }, HOST);
  const ioArgs =
    qemuCommandLine(io, { id: "sb", qmpSocket: "/q", vsockCid: 3, imageSize: 0, devices: [] }).args;
  assertStringIncludes(
    ioArgs.join(" "),
    "format=raw,readonly=on,aio=io_uring,cache.direct=on,cache.no-flush=off",
  );
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, block_device_aio: "native" }, HOST),
    ConfigError,
    "native needs",
  );
  assertThrows(
    () => qemuOptionsFromConfig({ ...SECTION, block_device_aio: "posix" }, HOST),
    ConfigError,
    "block_device_aio",
  );
});
