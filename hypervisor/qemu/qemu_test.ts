import { assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  UnimplementedError,
} from "../../common/errors.ts";
import { qemuOptionsFromConfig } from "./options.ts";
import { Qemu } from "./qemu.ts";

const options = (runRoot: string) =>
  qemuOptionsFromConfig(
    {
      path: "qemu-system-x86_64",
      kernel: "/k",
      image: "/i",
      initrd: "",
      firmware: "",
      machine_type: "q35",
      machine_accelerators: "",
      cpu_features: "",
      default_vcpus: 1,
      default_maxvcpus: 0,
      default_memory: 128,
      default_maxmemory: 0,
      memory_slots: 2,
      rootfs_type: "ext4",
      vm_rootfs_driver: "virtio-blk",
      block_device_driver: "virtio-blk",
      disable_block_device_use: false,
      kernel_params: "",
      enable_debug: false,
      disable_vhost_net: false,
      network_queues: 1,
      entropy_source: "",
      pcie_root_port: 0,
    },
    { cpus: 2, memoryMib: 1024 },
    runRoot,
  );

Deno.test("QEMU driver before start: devices are recorded for the command line, not hotplugged", async () => {
  const dir = await Deno.makeTempDir();
  const q = new Qemu(options(dir), { allocateCid: () => 1234 });
  try {
    await assertRejects(
      () => q.addDevice({ kind: "block", id: "b", path: "/x", readOnly: true }),
      FailedPreconditionError,
      "it is not_ready",
    );
    assertThrows(() => q.agentSocket(), FailedPreconditionError);
    await q.prepareVm({ id: "sb" });
    assertEquals(q.agentSocket(), { kind: "vsock", cid: 1234, port: 1024 });
    assertEquals(await q.addDevice({ kind: "vsock", id: "v", guestCid: 3 }), {
      kind: "vsock",
      id: "v",
      guestCid: 1234,
    });
    await q.addDevice({ kind: "block", id: "b", path: "/x", readOnly: true });
    await assertRejects(
      () => q.addDevice({ kind: "block", id: "b", path: "/y", readOnly: true }),
      AlreadyExistsError,
      "already in use",
    );
    await assertRejects(
      () => q.addDevice({ kind: "vfio", id: "f", bdf: "0000:00:01.0" }),
      UnimplementedError,
    );
    await q.removeDevice({ kind: "block", id: "b", path: "/x", readOnly: true });
    await assertRejects(
      () => q.removeDevice({ kind: "block", id: "b", path: "/x", readOnly: true }),
      NotFoundError,
    );
    await assertRejects(
      () => q.vcpuReport(),
      FailedPreconditionError,
      "it is prepared, not running",
    );
    await assertRejects(() => q.bootVm(), FailedPreconditionError);
    await assertRejects(() => q.waitVm(), FailedPreconditionError);
    assertEquals(q.capabilities().netHotplug && q.capabilities().blockHotplug, true);
    assertEquals(q.saveState().run_dir, `${dir}/sb/qemu`);
  } finally {
    await q.cleanup();
    assertEquals([...Deno.readDirSync(`${dir}/sb`)], []);
    await Deno.remove(dir, { recursive: true });
  }
});
