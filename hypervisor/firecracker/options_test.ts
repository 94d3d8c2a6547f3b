import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { ConfigError, InvalidArgumentError } from "../../common/errors.ts";
import {
  firecrackerBootArgs,
  type FirecrackerConfigSection,
  firecrackerLaunch,
  firecrackerOptionsFromConfig,
  firecrackerPaths,
} from "./options.ts";

const SECTION: FirecrackerConfigSection = {
  path: "/usr/bin/firecracker",
  jailer_path: "",
  kernel: "/k/vmlinux",
  image: "/k/rootfs.img",
  initrd: "",
  rootfs_type: "ext4",
  kernel_params: "console=ttyS0 agent.log_vport=1025",
  default_vcpus: 1,
  default_memory: 2048,
  disable_seccomp: false,
  enable_debug: false,
  network_queues: 1,
  rx_rate_limiter_max_rate: 0,
  tx_rate_limiter_max_rate: 0,
  disk_rate_limiter_bw_max_rate: 0,
  disk_rate_limiter_bw_one_time_burst: 0,
  disk_rate_limiter_ops_max_rate: 0,
  disk_rate_limiter_ops_one_time_burst: 0,
};

Deno.test("config mapping: vCPUs rounded up, rate limiters as token buckets", () => {
  const o = firecrackerOptionsFromConfig({
    ...SECTION,
    default_vcpus: 2.2,
    tx_rate_limiter_max_rate: 5000,
    disk_rate_limiter_bw_max_rate: 100,
    disk_rate_limiter_bw_one_time_burst: 7,
    disk_rate_limiter_ops_max_rate: 10,
  });
  assertEquals(o.vcpus, 3);
  assertEquals(o.memoryMib, 2048);
  assertEquals(o.rxRateLimiter, undefined);
  assertEquals(o.txRateLimiter, { bandwidth: { size: 5000, refillTimeMs: 1000 } });
  assertEquals(o.diskRateLimiter, {
    bandwidth: { size: 100, refillTimeMs: 1000, oneTimeBurst: 7 },
    ops: { size: 10, refillTimeMs: 1000 },
  });
  assertEquals(o.runRoot, "/run/kata");
});

Deno.test("config mapping refuses what Firecracker cannot run", () => {
  assertThrows(
    () => firecrackerOptionsFromConfig({ ...SECTION, default_vcpus: 33 }),
    ConfigError,
    "default_vcpus: 33 is outside 1..32",
  );
  assertThrows(
    () => firecrackerOptionsFromConfig({ ...SECTION, default_memory: 64 }),
    ConfigError,
    "below 128 MiB",
  );
  assertThrows(
    () => firecrackerOptionsFromConfig({ ...SECTION, kernel: "" }),
    ConfigError,
    "kernel: empty",
  );
  assertThrows(
    () => firecrackerOptionsFromConfig({ ...SECTION, image: "", initrd: "" }),
    ConfigError,
    "neither image nor initrd",
  );
  assertThrows(
    () => firecrackerOptionsFromConfig({ ...SECTION, disk_rate_limiter_bw_max_rate: 2n ** 60n }),
    ConfigError,
    "disk_rate_limiter_bw_max_rate",
  );
});

Deno.test("boot args: fixed prefix, debug port, rootfs params per type, config params last", () => {
  const o = firecrackerOptionsFromConfig(SECTION);
  assertEquals(
    firecrackerBootArgs({ ...o, debug: true, rootfsType: "erofs", kernelParams: " a=1  b " }),
    "reboot=k panic=1 systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service " +
      "systemd.mask=systemd-networkd.socket agent.log_vport=1025 pci=off iommu=off " +
      "root=/dev/vda1 ro rootfstype=erofs a=1 b",
  );
  // An initrd boot has no root device parameters.
  assertEquals(
    firecrackerBootArgs({ ...o, image: "", initrd: "/i", kernelParams: "" }).endsWith(
      "pci=off iommu=off",
    ),
    true,
  );
  assertThrows(
    () => firecrackerBootArgs({ ...o, rootfsType: "btrfs" }),
    InvalidArgumentError,
    "btrfs",
  );
});

Deno.test("paths and launch: plain, in a netns through nsenter, and jailed with --netns", () => {
  const o = firecrackerOptionsFromConfig(SECTION);
  const p = firecrackerPaths(o, "sb");
  assertEquals(p, {
    jailed: false,
    vmPath: "/run/kata/sb",
    rootDir: "/run/kata/sb/root",
    runDir: "/run/kata/sb/run",
    apiSocket: "/run/kata/sb/run/fc.sock",
    hvsock: "/run/kata/sb/kata.hvsock",
    hvsockForVmm: "/run/kata/sb/kata.hvsock",
  });
  assertEquals(firecrackerLaunch(o, "sb", p), {
    cmd: "/usr/bin/firecracker",
    args: ["--api-sock", "/run/kata/sb/run/fc.sock"],
  });
  assertEquals(firecrackerLaunch({ ...o, disableSeccomp: true }, "sb", p, "/run/netns/x"), {
    cmd: "nsenter",
    args: [
      "--net=/run/netns/x",
      "--",
      "/usr/bin/firecracker",
      "--api-sock",
      "/run/kata/sb/run/fc.sock",
      "--no-seccomp",
    ],
  });
  const j = { ...o, jailerPath: "/usr/bin/jailer" };
  const jp = firecrackerPaths(j, "sb");
  assertEquals(jp.vmPath, "/run/kata/firecracker/sb");
  assertEquals(jp.apiSocket, "/run/kata/firecracker/sb/root/run/fc.sock");
  assertEquals(jp.hvsockForVmm, "kata.hvsock");
  assertEquals(firecrackerLaunch(j, "sb", jp, "/run/netns/x"), {
    cmd: "/usr/bin/jailer",
    args: [
      "--id",
      "sb",
      "--gid",
      "0",
      "--uid",
      "0",
      "--exec-file",
      "/usr/bin/firecracker",
      "--chroot-base-dir",
      "/run/kata",
      "--netns",
      "/run/netns/x",
      "--",
      "--api-sock",
      "/run//fc.sock",
    ],
  });
  assertThrows(() => firecrackerPaths(o, "../x"), InvalidArgumentError, "sandbox id");
});
