import { create } from "@bufbuild/protobuf";
import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { DeviceSchema } from "../gen/agent_pb.ts";
import { applyDevice, guestNodePath, readDeviceNode } from "./devices.ts";

Deno.test("the guest node comes from a device path or a PCI path", async () => {
  const resolve = (p: string) => Promise.resolve(p === "02" ? "/dev/vdb" : "/dev/null");
  const dev = (o: Record<string, string>) =>
    create(DeviceSchema, { containerPath: "/dev/xvda", ...o });
  assertEquals(await guestNodePath(dev({ type: "blk", vmPath: "02" }), resolve), "/dev/vdb");
  assertEquals(
    await guestNodePath(dev({ type: "mmioblk", vmPath: "/dev/vdc" }), resolve),
    "/dev/vdc",
  );
  await assertRejects(
    () => guestNodePath(dev({ type: "vfio-pci", vmPath: "0000:00:05.0" }), resolve),
    Error,
    'of type "vfio-pci" at "0000:00:05.0" is not supported',
  );
  assertEquals(await readDeviceNode("/dev/null"), { type: "c", major: 1, minor: 3 });
  await assertRejects(() => readDeviceNode("/etc/hostname"), Error, "is not a device node");
});

Deno.test("host device numbers in the spec become the guest's", () => {
  const spec = {
    linux: {
      devices: [{ path: "/dev/xvda", type: "b", major: 8, minor: 16 }],
      resources: {
        devices: [{ allow: false, access: "rwm" }, {
          allow: true,
          type: "b",
          major: 8,
          minor: 16,
          access: "rw",
        }],
      },
    },
  };
  const out = applyDevice(spec, "/dev/xvda", { type: "b", major: 254, minor: 16 });
  const linux = out.linux as Record<string, unknown>;
  assertEquals(linux.devices, [{ path: "/dev/xvda", type: "b", major: 254, minor: 16 }]);
  assertEquals((linux.resources as Record<string, unknown>).devices, [
    { allow: false, access: "rwm" },
    { allow: true, type: "b", major: 254, minor: 16, access: "rw" },
  ]);
  // The input is not changed.
  assertEquals(spec.linux.devices[0].major, 8);
});

Deno.test("a device missing from the spec is added with an allow rule", () => {
  const out = applyDevice({}, "/dev/xvdb", { type: "b", major: 254, minor: 32 });
  const linux = out.linux as Record<string, unknown>;
  assertEquals(linux.devices, [{
    path: "/dev/xvdb",
    type: "b",
    major: 254,
    minor: 32,
    fileMode: 0o660,
    uid: 0,
    gid: 0,
  }]);
  assertEquals((linux.resources as Record<string, unknown>).devices, [
    { allow: true, type: "b", major: 254, minor: 32, access: "rwm" },
  ]);
});
