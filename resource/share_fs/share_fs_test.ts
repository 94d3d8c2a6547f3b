import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/assert.ts";
import type { Device } from "../../hypervisor/device.ts";
import { mount } from "../../ffi/mount.ts";
import { checkId, SharedLayout } from "./layout.ts";
import { mountsUnder, removeTreeSafely } from "./mounts.ts";
import { chooseShareFs, ShareFs } from "./share_fs.ts";
import { testsNeeding } from "../../tests/tier.ts";

/** test: these tests need more than the unit tier (ignored, saying why, where missing). */
const test = testsNeeding({ root: true });

Deno.test("shared layout plans host and guest paths of rootfs and volumes", () => {
  const l = new SharedLayout("/run/kata/sb1");
  assertEquals(l.hostDir, "/run/kata/sb1/shared");
  assertEquals(l.rootfsHost("c1"), "/run/kata/sb1/shared/c1/rootfs");
  assertEquals(l.rootfsGuest("c1"), "/run/kata-containers/shared/containers/c1/rootfs");
  assertEquals(l.blockRootfsGuest("c1"), "/run/kata-containers/c1/rootfs");
  const v = l.volumeName("c1", "/var/lib/data dir/");
  assert(/^c1-[0-9a-f]{16}-data_dir$/.test(v), v);
  assertEquals(l.volumeGuest(v), `/run/kata-containers/shared/containers/${v}`);
  assertThrows(() => l.rootfsHost("../x"), Error, "Invalid container id");
  assertThrows(() => checkId("a/b"), Error, "not a safe name");
});

Deno.test("share fs choice follows shared_fs: no quiet switch to 9p, unsupported kinds fail", () => {
  assertEquals(chooseShareFs("virtio-fs", false), "none");
  assertEquals(chooseShareFs("none", true), "none");
  assertEquals(chooseShareFs("virtio-fs", true), "virtio-fs");
  assertEquals(chooseShareFs("virtio-9p", true), "virtio-9p");
  assertEquals(chooseShareFs("inline-virtio-fs", true, true), "inline-virtio-fs");
  assertThrows(
    () => chooseShareFs("inline-virtio-fs", true),
    Error,
    'served only by the built-in VMM (hypervisor "dragonball")',
  );
  assertThrows(
    () => chooseShareFs("virtio-fs-nydus", true),
    Error,
    '"virtio-fs-nydus" is not supported',
  );
});

Deno.test("9p share: attach gives a 9p device and a guest storage; detach removes the dir", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const share = new ShareFs(new SharedLayout(`${root}/sb`), "virtio-9p");
    const added: Device[] = [];
    await share.attach({ attach: (d) => Promise.resolve(added.push(d)) });
    assertEquals(added, [{
      kind: "share_fs",
      fsType: "virtio-9p",
      mountTag: "kataShared",
      hostPath: `${root}/sb/shared`,
    }]);
    assert(Deno.statSync(`${root}/sb/shared`).isDirectory);
    const [s] = share.storages();
    assertEquals([s.driver, s.source, s.fstype, s.mountPoint], [
      "9p",
      "kataShared",
      "9p",
      "/run/kata-containers/shared/containers/",
    ]);
    assert(s.options.includes("trans=virtio"));
    await share.detach();
    assertThrows(() => Deno.statSync(`${root}/sb/shared`));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("inline virtio-fs: a device the VMM serves, mounted as virtiofs; no DAX", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const share = new ShareFs(new SharedLayout(`${root}/sb`), "inline-virtio-fs", {
      cache: "auto",
      extraArgs: ["--thread-pool-size=1"], // virtiofsd's: ignored with a warning
    });
    const added: Device[] = [];
    await share.attach({ attach: (d) => Promise.resolve(added.push(d)) });
    assertEquals(added, [{
      kind: "share_fs",
      fsType: "inline-virtio-fs",
      mountTag: "kataShared",
      hostPath: `${root}/sb/shared`,
      cache: "auto",
    }]);
    assertEquals(share.daemonIdentity, null, "no virtiofsd");
    const [s] = share.storages();
    assertEquals([s.driver, s.source, s.fstype, s.options, s.mountPoint], [
      "virtio-fs",
      "kataShared",
      "virtiofs",
      [],
      "/run/kata-containers/shared/containers/",
    ]);
    await share.detach();
    assertThrows(() => Deno.statSync(`${root}/sb/shared`));
    const dax = new ShareFs(new SharedLayout(`${root}/sb2`), "inline-virtio-fs", {
      cacheSizeMib: 1024,
    });
    await assertRejects(
      () => dax.attach({ attach: () => Promise.resolve() }),
      Error,
      "no DAX window",
    );
    assertThrows(() => Deno.statSync(`${root}/sb2/shared`));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a share whose device attach fails leaves nothing behind", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const share = new ShareFs(new SharedLayout(`${root}/sb`), "virtio-9p");
    await assertRejects(
      () => share.attach({ attach: () => Promise.reject(new Error("no slot")) }),
      Error,
      "no slot",
    );
    assertThrows(() => Deno.statSync(`${root}/sb/shared`));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("no share: nothing is attached and no storage is sent", async () => {
  const share = new ShareFs(new SharedLayout("/nonexistent/sb"), "none");
  await share.attach({ attach: () => Promise.reject(new Error("must not be called")) });
  assertEquals(share.storages(), []);
  assertEquals(share.shared, false);
  await share.detach();
});

Deno.test("virtio-fs with a missing daemon fails naming it and leaves nothing behind", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const share = new ShareFs(new SharedLayout(`${root}/sb`), "virtio-fs", {
      virtiofsd: `${root}/no-such-virtiofsd`,
    });
    const added: Device[] = [];
    const e = await assertRejects(() =>
      share.attach({ attach: (d) => Promise.resolve(added.push(d)) })
    );
    assertStringIncludes((e as Error).message, `${root}/no-such-virtiofsd`);
    assertEquals(added, [], "no device given to the VM");
    assertThrows(() => Deno.statSync(`${root}/sb/shared`));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("virtio-fs with a daemon that exits at once fails with its name and exit", async () => {
  const root = Deno.makeTempDirSync();
  try {
    // A "virtiofsd" that claims the C daemon's options in --help, then fails.
    const fake = `${root}/virtiofsd`;
    Deno.writeTextFileSync(
      fake,
      '#!/bin/sh\n[ "$1" = --help ] && { echo "-o source=PATH"; exit 0; }\necho "fuse: bad mount" >&2; exit 3\n',
    );
    Deno.chmodSync(fake, 0o755);
    const share = new ShareFs(new SharedLayout(`${root}/sb`), "virtio-fs", { virtiofsd: fake });
    const e = await assertRejects(() => share.attach({ attach: () => Promise.resolve() }));
    const msg = (e as Error).message;
    assert(msg.includes(fake) && msg.includes("code 3") && msg.includes("bad mount"), msg);
    assertThrows(() => Deno.statSync(`${root}/sb/shared`));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

test("removeTreeSafely unmounts what is mounted inside before deleting (real bind mount)", () => {
  const root = Deno.makeTempDirSync();
  const src = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${src}/keep`, "precious");
    Deno.mkdirSync(`${root}/shared/c1/rootfs`, { recursive: true });
    mount(src, `${root}/shared/c1/rootfs`, "", ["rbind"]);
    assertEquals(mountsUnder(root), [`${root}/shared/c1/rootfs`]);
    removeTreeSafely(`${root}/shared`);
    assertEquals(mountsUnder(root), []);
    assertEquals(Deno.readTextFileSync(`${src}/keep`), "precious", "the bind source survives");
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(src, { recursive: true });
  }
});

Deno.test("mountsUnder parses escaped mountinfo paths, deepest first", () => {
  const info = [
    "36 35 98:0 / /a rw - ext4 /dev/x rw",
    "37 36 98:0 / /a/b\\040c rw - ext4 /dev/x rw",
    "38 36 98:0 / /ab rw - ext4 /dev/x rw",
  ].join("\n");
  assertEquals(mountsUnder("/a", info), ["/a/b c", "/a"]);
});
