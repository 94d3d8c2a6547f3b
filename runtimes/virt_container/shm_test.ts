import { assertEquals } from "../../tests/assert.ts";
import { DEFAULT_SHM_BYTES, parseTmpfsSize, podShm, SANDBOX_SHM_GUEST, shmSizeOf } from "./shm.ts";

const INFO = [
  "30 24 0:40 / /run/ctrd/sandboxes/sb/shm rw,nosuid,nodev,noexec - tmpfs shm rw,size=32768k",
  "31 24 0:41 / /tmp rw - tmpfs tmpfs rw",
].join("\n");

Deno.test("tmpfs sizes from mount options and mountinfo", () => {
  assertEquals(parseTmpfsSize("65536k"), 64 * 1024 * 1024);
  assertEquals(parseTmpfsSize("1g"), 1024 ** 3);
  assertEquals(parseTmpfsSize("4096"), 4096);
  assertEquals(parseTmpfsSize("50%"), undefined);
  assertEquals(shmSizeOf("/run/ctrd/sandboxes/sb/shm", INFO), 32 * 1024 * 1024);
  assertEquals(shmSizeOf("/tmp", INFO), undefined);
});

Deno.test("a CRI /dev/shm bind becomes the pod's guest tmpfs, made with the sandbox container", () => {
  const mounts = [
    { destination: "/proc", type: "proc", source: "proc" },
    {
      destination: "/dev/shm",
      type: "bind",
      source: "/run/ctrd/sandboxes/sb/shm",
      options: ["rbind", "rprivate", "rw"],
    },
  ];
  const shm = {
    destination: "/dev/shm",
    type: "bind",
    source: SANDBOX_SHM_GUEST,
    options: ["rbind", "rw"],
  };
  const sandbox = podShm(mounts, true, INFO);
  assertEquals(sandbox.mounts, [mounts[0], shm]);
  assertEquals(sandbox.storages.map((s) => [s.driver, s.mountPoint, s.options.at(-1)]), [
    ["ephemeral", SANDBOX_SHM_GUEST, `size=${32 * 1024 * 1024}`],
  ]);
  const app = podShm(mounts, false, INFO);
  assertEquals(app.mounts, [mounts[0], shm]);
  assertEquals(app.storages, []);
  assertEquals(podShm(mounts, true, "").storages[0].options.at(-1), `size=${DEFAULT_SHM_BYTES}`);
  // A tmpfs /dev/shm of the spec itself (no host bind) is left to the agent.
  const own = [{ destination: "/dev/shm", type: "tmpfs", source: "shm" }];
  assertEquals(podShm(own, true, INFO), { mounts: own, storages: [] });
});
