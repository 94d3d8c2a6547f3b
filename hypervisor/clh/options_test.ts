import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { ConfigError, InvalidArgumentError } from "../../common/errors.ts";
import {
  type ClhConfigSection,
  clhFsConfig,
  clhNetConfig,
  clhOptionsFromConfig,
  clhVmConfig,
} from "./options.ts";

const SECTION: ClhConfigSection = {
  path: "/usr/bin/cloud-hypervisor",
  kernel: "/k/vmlinux",
  image: "/k/kata.img",
  initrd: "",
  rootfs_type: "ext4",
  kernel_params: "cgroup_no_v1=all",
  default_vcpus: 1,
  default_maxvcpus: 0,
  default_memory: 2048,
  default_maxmemory: 0,
  enable_debug: false,
  shared_fs: "virtio-fs",
  disable_block_device_use: false,
  disable_seccomp: false,
  network_queues: 1,
  queue_size: 128,
  virtio_fs_queue_size: 1024,
  entropy_source: "/dev/urandom",
  rx_rate_limiter_max_rate: 0,
  tx_rate_limiter_max_rate: 1000,
};
const HOST = { cpus: 4, memoryMib: 4096 };

Deno.test("CH VmConfig from the config: payload, cpus, memory (shared, hotplug), rootfs disk, hybrid vsock, serial", () => {
  const o = clhOptionsFromConfig(SECTION, HOST);
  const nic = {
    kind: "network" as const,
    id: "n",
    tapName: "tap0_kata",
    guestMac: "02:00:00:00:00:01",
    queues: 1,
  };
  assertEquals(clhVmConfig(o, "/run/kata/sb/clh/kata.hvsock", { disks: [], nets: [nic], fs: [] }), {
    cpus: { boot_vcpus: 1, max_vcpus: 4 },
    memory: {
      size: 2048 * 1048576,
      shared: true,
      hotplug_method: "Acpi",
      hotplug_size: 2048 * 1048576,
    },
    payload: {
      kernel: "/k/vmlinux",
      cmdline: "console=ttyS0 reboot=k panic=1 no_timer_check noreplace-smp root=/dev/vda1 " +
        "rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 systemd.unit=kata-containers.target " +
        "systemd.mask=systemd-networkd.service systemd.mask=systemd-networkd.socket cgroup_no_v1=all",
    },
    disks: [{ id: "rootfs", path: "/k/kata.img", readonly: true, num_queues: 1, queue_size: 128 }],
    net: [{
      id: "n",
      tap: "tap0_kata",
      mac: "02:00:00:00:00:01",
      num_queues: 2,
      queue_size: 256,
      rate_limiter_config: { bandwidth: { size: 1000, refill_time: 1000 } },
    }],
    vsock: { id: "vsock", cid: 3, socket: "/run/kata/sb/clh/kata.hvsock" },
    rng: { src: "/dev/urandom" },
    serial: { mode: "Tty" },
    console: { mode: "Off" },
  });
  assertEquals(clhNetConfig(o, { ...nic, queues: 2, mtu: 1400 }).num_queues, 4);
  assertThrows(
    () =>
      clhFsConfig(o, {
        kind: "share_fs",
        id: "f",
        fsType: "virtio-9p",
        mountTag: "t",
        hostPath: "/s",
      }),
    InvalidArgumentError,
    "only virtio-fs",
  );
});

Deno.test("CH config mapping refuses what Cloud Hypervisor cannot run", () => {
  assertThrows(
    () => clhOptionsFromConfig({ ...SECTION, shared_fs: "virtio-9p" }, HOST),
    ConfigError,
    "no 9p",
  );
  assertThrows(
    () => clhOptionsFromConfig({ ...SECTION, default_vcpus: 5 }, HOST),
    ConfigError,
    "exceeds the maximum 4",
  );
  assertThrows(
    () => clhOptionsFromConfig({ ...SECTION, image: "" }, HOST),
    ConfigError,
    "neither image nor initrd",
  );
  const o = clhOptionsFromConfig({
    ...SECTION,
    image: "",
    initrd: "/i",
    shared_fs: "none",
    default_maxmemory: 2048,
  }, HOST);
  const c = clhVmConfig(o, "/h", { disks: [], nets: [], fs: [] });
  assertEquals([c.memory, c.payload.initramfs, "disks" in c], [
    { size: 2048 * 1048576, shared: false },
    "/i",
    false,
  ]);
});
