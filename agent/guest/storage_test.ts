import { create } from "@bufbuild/protobuf";
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { StorageSchema } from "../gen/agent_pb.ts";
import {
  mountArgs,
  planStorage,
  resolvePciBlock,
  resolveScsiBlock,
  waitBlockCapacity,
} from "./storage.ts";

const noBlock = () => Promise.reject(new Error("no block devices in this test"));

Deno.test("9p storage gets the default transport options it lacks", async () => {
  const plan = await planStorage(
    create(StorageSchema, {
      driver: "9p",
      source: "kataShared",
      fstype: "9p",
      options: ["trans=virtio", "nodev"],
      mountPoint: "/run/kata-containers/shared/containers/",
    }),
    noBlock,
  );
  assertEquals(mountArgs(plan), [
    "-t",
    "9p",
    "-o",
    "trans=virtio,nodev,version=9p2000.L,cache=mmap,msize=512000",
    "kataShared",
    "/run/kata-containers/shared/containers/",
  ]);
});

Deno.test("virtio-fs, ephemeral, local and bind storages", async () => {
  const plan = (driver: string, source = "", options: string[] = []) =>
    planStorage(create(StorageSchema, { driver, source, options, mountPoint: "/m" }), noBlock);
  assertEquals(mountArgs(await plan("virtio-fs", "kataShared")), [
    "-t",
    "virtiofs",
    "kataShared",
    "/m",
  ]);
  assertEquals(mountArgs(await plan("ephemeral", "tmpfs", ["size=1m"])), [
    "-t",
    "tmpfs",
    "-o",
    "size=1m",
    "tmpfs",
    "/m",
  ]);
  assertEquals((await plan("local")).kind, "directory");
  assertEquals(mountArgs(await plan("watchable-bind", "/src", ["ro"])), [
    "-o",
    "bind,ro",
    "/src",
    "/m",
  ]);
});

Deno.test("blk storage resolves its PCI path; unknown drivers are refused", async () => {
  const plan = await planStorage(
    create(StorageSchema, { driver: "blk", source: "02/01", fstype: "ext4", mountPoint: "/b" }),
    (p) => Promise.resolve(p === "02/01" ? "/dev/vdb" : "/dev/null"),
  );
  assertEquals(mountArgs(plan), ["-t", "ext4", "/dev/vdb", "/b"]);
  await assertRejects(
    () => planStorage(create(StorageSchema, { driver: "vfio-ap", mountPoint: "/x" }), noBlock),
    Error,
    'Storage driver "vfio-ap" is not supported',
  );
  await assertRejects(
    () => planStorage(create(StorageSchema, { driver: "9p", mountPoint: "rel" }), noBlock),
    Error,
    "is not absolute",
  );
});

Deno.test("PCI paths are matched against the sysfs location of block devices", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dev = `${dir}/devices/pci0000:00/0000:00:02.0/0000:01:01.0/virtio3/block/vdb`;
    await Deno.mkdir(dev, { recursive: true });
    await Deno.mkdir(`${dir}/block`);
    await Deno.symlink(dev, `${dir}/block/vdb`);
    assertEquals(await resolvePciBlock("02/01", `${dir}/block`), "/dev/vdb");
    await assertRejects(() => resolvePciBlock("03", `${dir}/block`), Error, "No block device");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mmioblk storage waits for its disk's capacity (a hot-added slot starts empty)", async () => {
  const sys = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${sys}/vdc`);
    Deno.writeTextFileSync(`${sys}/vdc/size`, "0\n");
    const waited: string[] = [];
    const plan = await planStorage(
      create(StorageSchema, { driver: "mmioblk", source: "/dev/vdc", mountPoint: "/r" }),
      noBlock,
      (d) => Promise.resolve(void waited.push(d)),
    );
    assertEquals([waited, mountArgs(plan)], [["/dev/vdc"], ["-t", "ext4", "/dev/vdc", "/r"]]);
    await assertRejects(
      () => waitBlockCapacity("/dev/vdc", 100, sys),
      Error,
      "/dev/vdc still has no capacity after 100 ms",
    );
    setTimeout(() => Deno.writeTextFileSync(`${sys}/vdc/size`, "2048\n"), 50);
    await waitBlockCapacity("/dev/vdc", 5000, sys);
  } finally {
    Deno.removeSync(sys, { recursive: true });
  }
});

Deno.test("scsi storage: the address is scanned on every host and resolved through sysfs", async () => {
  const sys = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${sys}/class/scsi_host/host0`, { recursive: true });
    Deno.writeTextFileSync(`${sys}/class/scsi_host/host0/scan`, "");
    Deno.mkdirSync(`${sys}/bus/scsi/devices/0:0:0:1/block/sda`, { recursive: true });
    // The scanned disk appears a little later, as the kernel probes it.
    setTimeout(
      () => Deno.mkdirSync(`${sys}/bus/scsi/devices/0:0:0:2/block/sdb`, { recursive: true }),
      50,
    );
    assertEquals(await resolveScsiBlock("0:2", sys, 5000), "/dev/sdb");
    assertEquals(Deno.readTextFileSync(`${sys}/class/scsi_host/host0/scan`), "0 0 2");
    assertEquals(await resolveScsiBlock("0:1", sys, 5000), "/dev/sda");
    await assertRejects(
      () => resolveScsiBlock("0:7", sys, 100),
      Error,
      "No SCSI disk at address 0:7",
    );
    await assertRejects(() => resolveScsiBlock("sda", sys, 100), Error, "Invalid SCSI address");
  } finally {
    Deno.removeSync(sys, { recursive: true });
  }
});
