import { assertEquals, assertThrows } from "../tests/assert.ts";
import { ConfigError, InvalidArgumentError } from "../common/errors.ts";
import {
  bootOptions,
  checkBootFiles,
  finishKernelParams,
  refuseKey,
  rootfsParams,
  vmSizing,
} from "./options_check.ts";

Deno.test("options helper: boot files are checked with one message shape per section", () => {
  assertThrows(
    () => checkBootFiles({ kernel: "/k", image: "/i" }, "qemu", "QEMU"),
    ConfigError,
    "Invalid [hypervisor.qemu] path: empty",
  );
  assertThrows(
    () => checkBootFiles({ path: "/q", image: "/i" }, "clh", "CH"),
    ConfigError,
    "Invalid [hypervisor.clh] kernel: empty",
  );
  assertThrows(
    () => checkBootFiles({ path: "/q", kernel: "/k" }, "clh", "CH"),
    ConfigError,
    "neither image nor initrd is set",
  );
  assertThrows(
    () =>
      checkBootFiles({ path: "/q", kernel: "/k", image: "/i", initrd: "/r" }, "clh", "CH", {
        oneOfImageInitrd: true,
      }),
    ConfigError,
    "Invalid [hypervisor.clh] initrd: image and initrd are both set",
  );
  // The built-in VMM has no VMM path to check.
  checkBootFiles({ kernel: "/k", initrd: "/r" }, "dragonball", "built-in VMM", {
    needsPath: false,
  });
  assertEquals(bootOptions({ path: "/q", kernel: "/k", image: "/i" }, "/run/x"), {
    path: "/q",
    kernel: "/k",
    image: "/i",
    initrd: "",
    rootfsType: "ext4",
    kernelParams: "",
    debug: false,
    runRoot: "/run/x",
  });
});

Deno.test("options helper: sizing caps the maxima at the host's and refuses defaults above them", () => {
  const host = { cpus: 4, memoryMib: 8192 };
  const bad = refuseKey("qemu");
  assertEquals(vmSizing({ default_vcpus: 1.5, default_maxvcpus: 8 }, host, bad), {
    vcpus: 2,
    maxVcpus: 4,
    memoryMib: 2048,
    maxMemoryMib: 8192,
  });
  assertThrows(
    () => vmSizing({ default_vcpus: 5 }, host, bad),
    ConfigError,
    "Invalid [hypervisor.qemu] default_vcpus: 5 exceeds the maximum 4",
  );
  assertThrows(
    () => vmSizing({ default_memory: 4096, default_maxmemory: 1024 }, host, bad),
    ConfigError,
    "4096 MiB exceeds the maximum 1024 MiB",
  );
});

Deno.test("options helper: kernel parameters for the rootfs and the config's own last", () => {
  assertEquals(rootfsParams("erofs"), ["root=/dev/vda1", "ro", "rootfstype=erofs"]);
  assertEquals(rootfsParams("xfs", "/dev/pmem0p1", "dax"), [
    "root=/dev/pmem0p1",
    "rootflags=dax",
    "ro",
    "rootfstype=xfs",
  ]);
  assertThrows(() => rootfsParams("btrfs"), InvalidArgumentError, "expected ext4, xfs or erofs");
  assertEquals(
    finishKernelParams(["panic=1"], { debug: true, kernelParams: " quiet  x=1 " }),
    "panic=1 systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service " +
      "systemd.mask=systemd-networkd.socket agent.log=debug quiet x=1",
  );
});
