import { assertEquals, assertRejects } from "../../tests/assert.ts";
import {
  addDirectVolume,
  directVolumeDir,
  directVolumeOf,
  encodeVolumePath,
  parseMountInfo,
  readDirectVolume,
  removeDirectVolume,
} from "./direct_volume.ts";

Deno.test("volume paths are encoded as unpadded base64url, like runtime-rs", () => {
  assertEquals(encodeVolumePath("/a"), "L2E");
  assertEquals(encodeVolumePath("/k8s/pv?>x"), "L2s4cy9wdj8-eA");
});

Deno.test("add writes mountInfo.json, read returns it, remove deletes it", async () => {
  const root = await Deno.makeTempDir();
  try {
    const info = parseMountInfo('{"device":"/dev/loop3","fs_type":"ext4","options":["rw"]}');
    const file = await addDirectVolume("/vol/a", info, root);
    assertEquals(file, `${root}/${encodeVolumePath("/vol/a")}/mountInfo.json`);
    assertEquals(JSON.parse(await Deno.readTextFile(file)).device, "/dev/loop3");
    assertEquals((await readDirectVolume("/vol/a", root)).fs_type, "ext4");
    await assertRejects(() => addDirectVolume("/vol/a", info, root));
    await removeDirectVolume("/vol/a", root);
    await assertRejects(() => readDirectVolume("/vol/a", root));
    await assertRejects(() => removeDirectVolume("/vol/a", root));
    assertEquals([...Deno.readDirSync(root)].length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bad mount info is refused with the reason", () => {
  for (
    const bad of [
      "nope",
      "[]",
      '{"device":"/dev/x"}',
      '{"device":"/d","fs_type":"ext4","options":[1]}',
    ]
  ) {
    let msg = "";
    try {
      parseMountInfo(bad);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg.startsWith("Mount info"), true, bad);
  }
});

Deno.test("directVolumeOf: the mount info of a registered path, undefined for others, malformed info refused", async () => {
  const root = await Deno.makeTempDir();
  try {
    assertEquals(directVolumeOf("/vol/plain", root), undefined);
    assertEquals(directVolumeOf("relative/path", root), undefined);
    await addDirectVolume(
      "/vol/b",
      parseMountInfo('{"device":"/dev/loop9","fs_type":"ext4","options":["noatime"]}'),
      root,
    );
    const info = directVolumeOf("/vol/b", root);
    assertEquals([info?.device, info?.fs_type, info?.options], ["/dev/loop9", "ext4", ["noatime"]]);
    await Deno.mkdir(directVolumeDir("/vol/bad", root), { recursive: true });
    await Deno.writeTextFile(`${directVolumeDir("/vol/bad", root)}/mountInfo.json`, "{not json");
    let msg = "";
    try {
      directVolumeOf("/vol/bad", root);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertEquals(msg.startsWith("Direct volume /vol/bad has malformed mount info in "), true, msg);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
