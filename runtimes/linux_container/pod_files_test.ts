import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { podContainerSpec, resolvConf } from "./pod_files.ts";

const DNS = {
  servers: ["192.0.2.53", "192.0.2.54"],
  searches: ["a.example"],
  options: ["ndots:2"],
};

Deno.test("pod files: resolv.conf from CRI's DNS config, the host's when it is empty", () => {
  assertEquals(
    resolvConf(DNS, () => "unused"),
    "search a.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions ndots:2\n",
  );
  assertEquals(
    resolvConf({ servers: [], searches: [], options: [] }, () => "nameserver 10.0.0.1\n"),
    "nameserver 10.0.0.1\n",
  );
});

Deno.test("pod files: a pod container's spec gets the pod's files, the user's mounts stay", () => {
  const spec = {
    ociVersion: "1.1.0",
    root: { path: "rootfs", readonly: true },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid"] },
      { destination: "/etc/hosts", type: "bind", source: "/mine/hosts", options: ["rbind"] },
    ],
  };
  const out = podContainerSpec(spec, "/b", "/run/kata/pod", true);
  assertEquals(out.root, { path: "/b/rootfs", readonly: true });
  assertEquals(out.ociVersion, "1.1.0");
  assertEquals(out.mounts, [
    { destination: "/proc", type: "proc", source: "proc" },
    {
      destination: "/dev/shm",
      type: "bind",
      source: "/run/kata/pod/shm",
      options: ["rbind", "rprivate", "rw"],
    },
    { destination: "/etc/hosts", type: "bind", source: "/mine/hosts", options: ["rbind"] },
    {
      destination: "/etc/hostname",
      type: "bind",
      source: "/run/kata/pod/hostname",
      options: ["rbind", "rprivate", "ro"],
    },
    {
      destination: "/etc/resolv.conf",
      type: "bind",
      source: "/run/kata/pod/resolv.conf",
      options: ["rbind", "rprivate", "ro"],
    },
  ]);
  // The input is not changed: containerd's bundle is never edited.
  assertEquals(spec.mounts.length, 3);
  assertEquals(spec.root.path, "rootfs");
});

Deno.test("pod files: a bind /dev/shm stays; without a pod /dev/shm nothing replaces it", () => {
  const node = { destination: "/dev/shm", type: "bind", source: "/dev/shm", options: ["rbind"] };
  const spec = { root: { path: "/abs/rootfs" }, mounts: [node] };
  const out = podContainerSpec(spec, "/b", "/p", true);
  assertEquals(out.root?.path, "/abs/rootfs");
  assertEquals(out.mounts?.[0], node);
  const tmpfs = { destination: "/dev/shm", type: "tmpfs", source: "shm" };
  const noShm = podContainerSpec({ root: { path: "r" }, mounts: [tmpfs] }, "/b", "/p", false);
  assertEquals(noShm.mounts?.[0], tmpfs);
  assertEquals(noShm.mounts?.length, 4);
});

Deno.test("pod files: a spec without a root path is refused, naming the bundle", () => {
  const err = assertThrows(
    () => podContainerSpec({ mounts: [] }, "/b", "/p", true),
    InvalidArgumentError,
  );
  assertEquals(err.message, "Bundle /b: config.json has no root.path");
});
