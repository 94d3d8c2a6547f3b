import { assertEquals, assertRejects } from "../../tests/assert.ts";
import type { Device } from "../../hypervisor/device.ts";
import {
  attachBlockVolume,
  type BlockVolumeContext,
  blockVolumeGuestPath,
  detachBlockVolume,
  DirectVolumeClaims,
} from "./block_volume.ts";
import { parseMountInfo } from "./direct_volume.ts";

/** A device manager stand-in that records attaches and detaches. */
function devices() {
  const log: string[] = [];
  let n = 0;
  return {
    log,
    attach(d: Device) {
      const id = `blk${n++}`;
      log.push(
        `attach ${id} ${(d as { path: string }).path} ro=${(d as { readOnly: boolean }).readOnly}`,
      );
      return Promise.resolve({ device: { ...d, id, guestPath: `/dev/vd${"bc"[n - 1]}` } });
    },
    detach(id: string) {
      log.push(`detach ${id}`);
      return Promise.resolve();
    },
  };
}

const INFO = parseMountInfo('{"device":"/dev/loop3","fs_type":"ext4","options":["noatime","rw"]}');
const MOUNT = { destination: "/data", source: "/vol/a", type: "bind", options: ["rbind"] };

function ctx(
  over: Partial<BlockVolumeContext> = {},
): BlockVolumeContext & { devices: ReturnType<typeof devices> } {
  return {
    cid: "c1",
    devices: devices(),
    blockDriver: "mmioblk",
    claims: new DirectVolumeClaims(),
    blockDeviceNumber: () => "7:3",
    mountinfo: () => "22 1 0:21 / / rw - overlay overlay rw\n",
    ...over,
  } as BlockVolumeContext & { devices: ReturnType<typeof devices> };
}

Deno.test("a direct volume is attached as a disk and mounted by the agent; the container binds its guest path", async () => {
  const o = ctx();
  const { mount, volume } = await attachBlockVolume(MOUNT, INFO, o);
  const guest = blockVolumeGuestPath("c1", "/vol/a");
  assertEquals(guest, "/run/kata-containers/c1/direct-volumes/L3ZvbC9h");
  assertEquals(mount, {
    destination: "/data",
    source: guest,
    type: "bind",
    options: ["rbind", "rw"],
  });
  assertEquals(volume.storage, {
    driver: "mmioblk",
    driverOptions: [],
    source: "/dev/vdb",
    fstype: "ext4",
    options: ["noatime"],
    mountPoint: guest,
  });
  assertEquals(o.claims.guestPathOf("/vol/a"), guest);
  await detachBlockVolume(volume, o, false);
  assertEquals(o.devices.log, ["attach blk0 /dev/loop3 ro=false", "detach blk0"]);
  assertEquals(o.claims.guestPathOf("/vol/a"), undefined);
});

Deno.test("a read-only mount or mount info attaches the disk read-only and mounts it ro", async () => {
  const o = ctx();
  const ro = await attachBlockVolume({ ...MOUNT, options: ["rbind", "ro"] }, INFO, o);
  assertEquals(ro.mount.options, ["rbind", "ro"]);
  assertEquals(ro.volume.storage.options, ["noatime", "ro"]);
  const o2 = ctx();
  const info = parseMountInfo('{"device":"/dev/loop3","fs_type":"xfs","options":["ro"]}');
  await attachBlockVolume(MOUNT, info, o2);
  assertEquals(o2.devices.log, ["attach blk0 /dev/loop3 ro=true"]);
});

Deno.test("a second container of the sandbox cannot mount the same direct volume; after release it can", async () => {
  const o = ctx();
  const first = await attachBlockVolume(MOUNT, INFO, o);
  await assertRejects(
    () => attachBlockVolume(MOUNT, INFO, { ...o, cid: "c2" }),
    Error,
    "Direct volume /vol/a is in use by container c1: its file system cannot be mounted twice",
  );
  assertEquals(o.devices.log.length, 1, "nothing attached for the refused container");
  await detachBlockVolume(first.volume, o, true); // the VM is gone: no detach, claim dropped
  assertEquals(o.devices.log, ["attach blk0 /dev/loop3 ro=false"]);
  await attachBlockVolume(MOUNT, INFO, { ...o, cid: "c2" });
});

Deno.test("a device that is not a block device, or is mounted on the host, is refused before attaching", async () => {
  const notBlock = ctx({ blockDeviceNumber: () => null });
  await assertRejects(
    () => attachBlockVolume(MOUNT, INFO, notBlock),
    Error,
    "Direct volume /vol/a: device /dev/loop3 is not a block device",
  );
  const mounted = ctx({
    mountinfo: () =>
      "22 1 0:21 / / rw - overlay overlay rw\n40 22 7:3 / /mnt/img rw - ext4 /dev/loop3 rw\n",
  });
  await assertRejects(
    () => attachBlockVolume(MOUNT, INFO, mounted),
    Error,
    "Direct volume /vol/a: device /dev/loop3 is mounted on the host at /mnt/img",
  );
  assertEquals([notBlock.devices.log, mounted.devices.log], [[], []]);
  assertEquals(mounted.claims.guestPathOf("/vol/a"), undefined);
});

Deno.test("a failed attach drops the claim", async () => {
  const o = ctx();
  o.devices.attach = () => Promise.reject(new Error("No free block slot"));
  await assertRejects(() => attachBlockVolume(MOUNT, INFO, o), Error, "No free block slot");
  assertEquals(o.claims.guestPathOf("/vol/a"), undefined);
});
