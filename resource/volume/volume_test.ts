import { assert, assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { SharedLayout } from "../share_fs/layout.ts";
import { mountsUnder } from "../share_fs/mounts.ts";
import { ContainerVolumes, type CopyFileChunk, isHostBind, MAX_COPY_BYTES } from "./volume.ts";
import { testsNeeding } from "../../tests/tier.ts";
import type { Device } from "../../hypervisor/device.ts";
import { DirectVolumeClaims } from "./block_volume.ts";
import { addDirectVolume, parseMountInfo } from "./direct_volume.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

Deno.test("only bind mounts of absolute host paths are volumes", () => {
  assert(isHostBind({ destination: "/d", source: "/h", type: "bind", options: ["rbind"] }));
  assert(isHostBind({ destination: "/d", source: "/h", options: ["bind"] }));
  assert(!isHostBind({ destination: "/proc", source: "proc", type: "proc" }));
  assert(!isHostBind({ destination: "/d", source: "rel", type: "bind" }));
  assert(!isHostBind({ destination: "/dev/shm", source: "shm", type: "tmpfs" }));
});

test("shared volumes: dir and file binds re-pointed into the guest and released exactly", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const data = `${root}/data`;
    Deno.mkdirSync(data);
    Deno.writeTextFileSync(`${data}/x`, "1");
    Deno.writeTextFileSync(`${root}/resolv.conf`, "nameserver 10.0.0.1\n");
    const layout = new SharedLayout(`${root}/sb`);
    Deno.mkdirSync(layout.hostDir, { recursive: true });
    const v = new ContainerVolumes("c1", layout, true);
    const out = await v.prepare([
      { destination: "/proc", source: "proc", type: "proc" },
      { destination: "/data", source: data, type: "bind", options: ["rbind", "ro"] },
      {
        destination: "/etc/resolv.conf",
        source: `${root}/resolv.conf`,
        type: "bind",
        options: ["rbind"],
      },
    ]);
    assertEquals(out[0], { destination: "/proc", source: "proc", type: "proc" });
    assert(out[1].source!.startsWith("/run/kata-containers/shared/containers/c1-"));
    assert(out[1].source!.endsWith("-data"));
    assertEquals(out[1].options, ["rbind", "ro"]);
    const hostData = `${layout.hostDir}/${out[1].source!.split("/").pop()}`;
    assertEquals(Deno.readTextFileSync(`${hostData}/x`), "1");
    // A ro volume is read-only in the share (EROFS, which Deno reports as a plain Error).
    assertThrows(
      () => Deno.writeTextFileSync(`${hostData}/y`, "no"),
      Error,
      "Read-only file system",
    );
    const hostResolv = `${layout.hostDir}/${out[2].source!.split("/").pop()}`;
    assertEquals(Deno.readTextFileSync(hostResolv), "nameserver 10.0.0.1\n");
    assertEquals(mountsUnder(layout.hostDir).length, 2);
    v.release();
    assertEquals(mountsUnder(root), []);
    assertEquals([...Deno.readDirSync(layout.hostDir)], []);
    assertEquals(Deno.readTextFileSync(`${data}/x`), "1");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("without a shared fs, volumes are copied with CopyFile in chunks", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const data = `${root}/data`;
    Deno.mkdirSync(`${data}/sub`, { recursive: true });
    Deno.writeFileSync(`${data}/big`, new Uint8Array(1024 * 1024 + 5).fill(7), { mode: 0o640 });
    Deno.writeTextFileSync(`${data}/sub/empty`, "");
    const v = new ContainerVolumes("c1", new SharedLayout(`${root}/sb`), false);
    const sent: CopyFileChunk[] = [];
    const out = await v.prepare(
      [{ destination: "/data", source: data, type: "bind", options: ["rbind"] }],
      (c) => Promise.resolve(sent.push({ ...c, data: c.data.slice() })),
    );
    const guest = out[0].source!;
    assert(guest.startsWith("/run/kata-containers/shared/containers/c1-"));
    const byPath = new Map<string, CopyFileChunk[]>();
    for (const c of sent) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
    const big = byPath.get(`${guest}/big`)!;
    assertEquals(big.map((c) => [c.offset, c.data.length]), [[0n, 1024 * 1024], [1048576n, 5]]);
    assertEquals(big[0].fileSize, 1048581n);
    assertEquals(big[0].fileMode, 0o640);
    assertEquals(byPath.get(`${guest}/sub/empty`)!.map((c) => c.data.length), [0]);
    v.release();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a volume too large to copy is refused before anything is sent", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const f = `${root}/huge`;
    const file = Deno.openSync(f, { create: true, write: true });
    file.truncateSync(MAX_COPY_BYTES + 1);
    file.close();
    const v = new ContainerVolumes("c1", new SharedLayout(`${root}/sb`), false);
    let sent = 0;
    await assertRejects(
      () =>
        v.prepare([{ destination: "/h", source: f, type: "bind" }], () => Promise.resolve(sent++)),
      Error,
      "exceed",
    );
    assertEquals(sent, 0);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

test("a failing volume undoes the volumes shared before it", async () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/ok`);
    const layout = new SharedLayout(`${root}/sb`);
    Deno.mkdirSync(layout.hostDir, { recursive: true });
    const v = new ContainerVolumes("c1", layout, true);
    await assertRejects(
      () =>
        v.prepare([
          { destination: "/ok", source: `${root}/ok`, type: "bind" },
          { destination: "/missing", source: `${root}/missing`, type: "bind" },
        ]),
      Error,
      "Cannot share volume",
    );
    assertEquals(mountsUnder(root), []);
    assertEquals([...Deno.readDirSync(layout.hostDir)], []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a bind of a registered direct volume becomes a disk storage; without block devices it is refused", async () => {
  const root = Deno.makeTempDirSync();
  try {
    await addDirectVolume(
      "/vol/pv",
      parseMountInfo('{"device":"/dev/loop5","fs_type":"ext4"}'),
      root,
    );
    const layout = new SharedLayout(`${root}/sb`);
    const log: string[] = [];
    const block = {
      devices: {
        attach: (d: Device) => {
          log.push(`attach ${(d as { path: string }).path}`);
          return Promise.resolve({ device: { ...d, id: "blk0", guestPath: "/dev/vdb" } });
        },
        detach: (id: string) => Promise.resolve(void log.push(`detach ${id}`)),
      },
      blockDriver: "mmioblk",
      claims: new DirectVolumeClaims(),
      blockDeviceNumber: () => "7:5",
      mountinfo: () => "",
    };
    const v = new ContainerVolumes("c1", layout, true, block, root);
    const out = await v.prepare([
      { destination: "/proc", source: "proc", type: "proc" },
      { destination: "/data", source: "/vol/pv", type: "bind", options: ["rbind"] },
    ]);
    const guest = "/run/kata-containers/c1/direct-volumes/L3ZvbC9wdg";
    assertEquals(out[1], {
      destination: "/data",
      source: guest,
      type: "bind",
      options: ["rbind", "rw"],
    });
    assertEquals(v.storages.map((s) => [s.driver, s.source, s.fstype, s.mountPoint]), [
      ["mmioblk", "/dev/vdb", "ext4", guest],
    ]);
    assertEquals(mountsUnder(layout.hostDir), [], "nothing of the host path is shared");
    await v.detachBlock(false);
    assertEquals(log, ["attach /dev/loop5", "detach blk0"]);
    assertEquals(v.storages, []);

    const noBlock = new ContainerVolumes("c2", layout, true, undefined, root);
    await assertRejects(
      () => noBlock.prepare([{ destination: "/d", source: "/vol/pv", type: "bind" }]),
      Error,
      "Volume /vol/pv is a direct-assigned block volume (device /dev/loop5), and this VM takes no block devices",
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
