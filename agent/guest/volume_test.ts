import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { VolumeUsage_Unit } from "../gen/csi_pb.ts";
import { mountAt, type ResizeDeps, resizeVolume, volumeStats } from "./volume.ts";

Deno.test("volume stats: bytes and inodes of the file system at the path (real statfs)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const r = volumeStats(dir);
    const [bytes, inodes] = r.usage;
    assertEquals([bytes.unit, inodes.unit], [VolumeUsage_Unit.BYTES, VolumeUsage_Unit.INODES]);
    assert(bytes.total > 0n && bytes.available <= bytes.total && bytes.used <= bytes.total);
    assert(inodes.total === 0n || inodes.available <= inodes.total);
    assertEquals(r.volumeCondition?.abnormal, false);
  } finally {
    Deno.removeSync(dir);
  }
});

Deno.test("volume stats: arithmetic from statfs, and errors naming the path", () => {
  const r = volumeStats("/", () => ({
    type: 0xef53,
    blockSize: 4096,
    blocks: 1000n,
    blocksFree: 300n,
    blocksAvailable: 250n,
    files: 64n,
    filesFree: 60n,
    fsid: 0n,
    nameMax: 255,
  }));
  assertEquals(
    r.usage.map((u) => [u.total, u.available, u.used]),
    [[4096000n, 1024000n, 2867200n], [64n, 60n, 4n]],
  );
  assertThrows(() => volumeStats("/no/such/volume"), Error, "/no/such/volume does not exist");
  assertThrows(() => volumeStats("rel/path"), Error, "not absolute");
});

const INFO = [
  "22 1 0:20 / / rw - rootfs rootfs rw",
  "40 22 254:16 / /run/kata-containers/vol\\0401 rw,relatime - ext4 /dev/vdb rw",
  "41 22 254:32 / /data rw - xfs /dev/vdc rw",
  "42 22 0:44 / /shared rw - virtiofs kataShared rw",
  "43 22 0:45 / /tmpvol rw - tmpfs tmpfs rw",
].join("\n");

function deps(bytes: number, ran: string[][]): ResizeDeps {
  return {
    mountinfo: () => Promise.resolve(INFO),
    deviceBytes: () => Promise.resolve(bytes),
    run: (cmd, args) => Promise.resolve(void ran.push([cmd, ...args])),
  };
}

Deno.test("mountAt finds the mount at exactly the path (escaped names)", () => {
  assertEquals(mountAt(INFO, "/run/kata-containers/vol 1/"), {
    mountPoint: "/run/kata-containers/vol 1",
    fstype: "ext4",
    source: "/dev/vdb",
  });
  assertEquals(mountAt(INFO, "/run/kata-containers"), undefined);
});

Deno.test("resize volume: resize2fs for ext4, xfs_growfs for xfs; refusals name the reason", async () => {
  const ran: string[][] = [];
  await resizeVolume("/run/kata-containers/vol 1", 1n << 20n, deps(2 << 20, ran));
  await resizeVolume("/data", 0n, deps(2 << 20, ran));
  assertEquals(ran, [["resize2fs", "/dev/vdb"], ["xfs_growfs", "/data"]]);
  await assertRejects(
    () => resizeVolume("/data", 4n << 20n, deps(2 << 20, [])),
    Error,
    "/dev/vdc holds 2097152 bytes",
  );
  await assertRejects(() => resizeVolume("/nowhere", 1n, deps(1, [])), Error, "nothing is mounted");
  await assertRejects(() => resizeVolume("/shared", 1n, deps(1, [])), Error, "not a block device");
  await assertRejects(
    () =>
      resizeVolume("/tmpvol", 1n, {
        ...deps(1, []),
        mountinfo: () => Promise.resolve(INFO.replace("tmpfs tmpfs", "btrfs /dev/vdd")),
      }),
    Error,
    "growing btrfs is not supported",
  );
});
