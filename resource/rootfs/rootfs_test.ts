import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { UnimplementedError } from "../../common/errors.ts";
import type { Device } from "../../hypervisor/device.ts";
import { SharedLayout } from "../share_fs/layout.ts";
import { mountsUnder } from "../share_fs/mounts.ts";
import { attachRootfs, detachRootfs, rootfsWay } from "./rootfs.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

function devices() {
  const log: string[] = [];
  return {
    log,
    attach: (d: Device) => {
      log.push(`attach:${d.kind}`);
      return Promise.resolve({
        device: { ...d, id: "d1", guestPath: "/dev/vdb" } as Device & { id: string },
      });
    },
    detach: (id: string) => {
      log.push(`detach:${id}`);
      return Promise.resolve();
    },
  };
}

Deno.test("rootfs way: block for a block device snapshot, shared for overlay, refused without a share", () => {
  const blk = [{ type: "ext4", source: "/dev/dm-3", options: [] }];
  const ovl = [{ type: "overlay", source: "overlay", options: ["lowerdir=/a"] }];
  const isBlk = (p: string) => p.startsWith("/dev/");
  assertEquals(rootfsWay(blk, true, true, isBlk), "block");
  assertEquals(rootfsWay(blk, true, false, isBlk), "shared");
  assertEquals(rootfsWay(ovl, true, true, isBlk), "shared");
  assertThrows(() => rootfsWay(ovl, false, true, isBlk), UnimplementedError, "devmapper");
  assertThrows(
    () => rootfsWay([], false, true, isBlk),
    UnimplementedError,
    "no shared file system",
  );
});

test("shared rootfs: the bundle rootfs is bind-mounted under the shared dir and undone exactly", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const bundle = `${root}/bundle`;
    Deno.mkdirSync(`${bundle}/rootfs/bin`, { recursive: true });
    Deno.writeTextFileSync(`${bundle}/rootfs/bin/hello`, "hi");
    const layout = new SharedLayout(`${root}/sb`);
    Deno.mkdirSync(layout.hostDir, { recursive: true });
    const dev = devices();
    const r = await attachRootfs({
      cid: "c1",
      mounts: [],
      bundle,
      specRootPath: "rootfs",
      layout,
      shared: true,
      blockDevices: true,
      blockDriver: "blk",
      devices: dev,
    });
    assertEquals(r.guestPath, "/run/kata-containers/shared/containers/c1/rootfs");
    assertEquals(r.storages, []);
    assertEquals(Deno.readTextFileSync(`${layout.hostDir}/c1/rootfs/bin/hello`), "hi");
    await detachRootfs(r, layout, dev, false);
    assertEquals(mountsUnder(root), []);
    assertEquals([...Deno.readDirSync(layout.hostDir)], [], "the per-container dir is gone");
    assertEquals(Deno.readTextFileSync(`${bundle}/rootfs/bin/hello`), "hi");
    assertEquals(dev.log, []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

test("shared rootfs from containerd's mounts (a real bind mount list)", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const snap = `${root}/snap`;
    Deno.mkdirSync(snap);
    Deno.writeTextFileSync(`${snap}/f`, "x");
    const layout = new SharedLayout(`${root}/sb`);
    const dev = devices();
    const r = await attachRootfs({
      cid: "c2",
      mounts: [{ type: "bind", source: snap, options: ["rbind", "rw"] }],
      bundle: `${root}/bundle`,
      specRootPath: "rootfs",
      layout,
      shared: true,
      blockDevices: false,
      blockDriver: "blk",
      devices: dev,
    });
    assertEquals(Deno.readTextFileSync(`${r.hostPath}/f`), "x");
    await assertRejects(
      () =>
        attachRootfs({
          cid: "c2",
          mounts: [{ type: "bind", source: snap, options: ["rbind"] }],
          bundle: `${root}/bundle`,
          specRootPath: "rootfs",
          layout,
          shared: true,
          blockDevices: false,
          blockDriver: "blk",
          devices: dev,
        }),
      Error,
      "in use",
    );
    await detachRootfs(r, layout, dev, false);
    assertEquals(mountsUnder(root), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a failing rootfs mount leaves no directory behind", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const layout = new SharedLayout(`${root}/sb`);
    Deno.mkdirSync(layout.hostDir, { recursive: true });
    await assertRejects(() =>
      attachRootfs({
        cid: "c3",
        mounts: [{ type: "bind", source: `${root}/missing`, options: ["rbind"] }],
        bundle: `${root}/bundle`,
        specRootPath: "rootfs",
        layout,
        shared: true,
        blockDevices: false,
        blockDriver: "blk",
        devices: devices(),
      })
    );
    assertEquals([...Deno.readDirSync(layout.hostDir)], []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("block rootfs: the device goes to the VM and the agent gets a storage for it", async () => {
  const layout = new SharedLayout("/run/kata/sb");
  const dev = devices();
  const r = await attachRootfs({
    cid: "c4",
    mounts: [{ type: "ext4", source: "/dev/dm-7", options: ["rw", "discard"] }],
    bundle: "/b",
    specRootPath: "rootfs",
    layout,
    shared: false,
    blockDevices: true,
    blockDriver: "mmioblk",
    devices: dev,
    isBlockDevice: () => true,
  });
  assertEquals(r.guestPath, "/run/kata-containers/c4/rootfs");
  assertEquals(r.storages, [{
    driver: "mmioblk",
    driverOptions: [],
    source: "/dev/vdb",
    fstype: "ext4",
    options: ["discard"],
    mountPoint: "/run/kata-containers/c4/rootfs",
  }]);
  await detachRootfs(r, layout, dev, false);
  await detachRootfs(r, layout, dev, true);
  assertEquals(dev.log, ["attach:block", "detach:d1"], "no detach once the VM is gone");
  assert(r.deviceId);
});
