/**
 * Test fixture shared by the QEMU driver's tests: a configuration section
 * and a host to map it against.
 * @module
 */
import type { QemuConfigSection } from "./options.ts";

/** A `[hypervisor.qemu]` section as upstream ships it, with an image whose name holds a comma. */
export const SECTION: QemuConfigSection = {
  path: "/usr/bin/qemu-system-x86_64",
  kernel: "/k/vmlinux",
  image: "/k/kata,img",
  initrd: "",
  firmware: "",
  machine_type: "q35",
  machine_accelerators: "",
  cpu_features: "pmu=off",
  default_vcpus: 1,
  default_maxvcpus: 0,
  default_memory: 2048,
  default_maxmemory: 0,
  memory_slots: 10,
  rootfs_type: "ext4",
  vm_rootfs_driver: "virtio-pmem",
  block_device_driver: "virtio-blk",
  disable_block_device_use: false,
  kernel_params: "cgroup_no_v1=all",
  enable_debug: false,
  disable_vhost_net: false,
  network_queues: 1,
  entropy_source: "/dev/urandom",
  pcie_root_port: 2,
};
/** The host the tests size the VM against. */
export const HOST = { cpus: 4, memoryMib: 8192 };
