import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { VIRTIO_ID } from "./devices/virtio/device.ts";
import { openDevices } from "./device_specs.ts";
import { deviceSpecsFromFlags } from "./cli.ts";

Deno.test("device specs open the devices they describe, in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/disk.img`, new Uint8Array(4096));
    const devices = await openDevices([
      { kind: "block", path: `${dir}/disk.img`, readOnly: true, id: "d1" },
      { kind: "9p", tag: "share", dir },
      { kind: "virtio-fs", tag: "fs", dir, cache: "auto" },
      { kind: "vsock", udsPath: `${dir}/kata.hvsock`, guestCid: 3 },
    ]);
    try {
      assertEquals(devices.map((d) => d.deviceType), [
        VIRTIO_ID.BLOCK,
        VIRTIO_ID.P9,
        VIRTIO_ID.FS,
        VIRTIO_ID.VSOCK,
      ]);
    } finally {
      for (const d of devices) await d.close();
    }
    // A spec that cannot open fails the whole set (the devices before it are closed).
    await assertRejects(
      () =>
        openDevices([
          { kind: "vsock", udsPath: `${dir}/again.hvsock`, guestCid: 3 },
          { kind: "block", path: `${dir}/missing.img`, readOnly: false },
        ]),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vmm flags become the same device specs the driver uses", () => {
  assertEquals(
    deviceSpecsFromFlags({
      drive: ["/d.img,ro", "/e.img"],
      share: ["tag=/srv,ro"],
      virtiofs: ["fs=/data"],
      net: "tap0",
      netns: "/run/netns/x",
      mac: "",
      "vsock-uds": "/run/v.sock",
      "vsock-cid": 7,
    }),
    [
      { kind: "block", path: "/d.img", readOnly: true },
      { kind: "block", path: "/e.img", readOnly: false },
      { kind: "9p", tag: "tag", dir: "/srv", readOnly: true },
      { kind: "virtio-fs", tag: "fs", dir: "/data", readOnly: false },
      { kind: "net", tap: "tap0", netns: "/run/netns/x", mac: undefined },
      { kind: "vsock", udsPath: "/run/v.sock", guestCid: 7 },
    ],
  );
});
