import { assertEquals, assertThrows } from "../tests/assert.ts";
import { checkedRun, expectedChecks, parseGuestRows, SHAREFS_INIT } from "./sharefs_guest.ts";

const CONSOLE = [
  "VMM-GUEST-INIT",
  "SHAREFS-MOUNT bench /mnt virtiofs rw,relatime 0 0\r",
  "SHAREFS-ROW find 512 530 10001",
  "SHAREFS-ROW create 530 731 2000\r",
  "SHAREFS-ROW stat 731 790 2000",
  "SHAREFS-ROW remove 790 850 0",
  "SHAREFS-ROW write 850 1350 268435456",
  "SHAREFS-ROW read 1400 1700 256",
  "SHAREFS-ROW untar 1750 1800 401",
  "SHAREFS-DONE\r",
].join("\n");

Deno.test("parseGuestRows reads each row's seconds and check, carriage returns and all", () => {
  const rows = parseGuestRows(CONSOLE);
  assertEquals(rows.size, 7);
  assertEquals(rows.get("create"), { seconds: 2.01, check: 2000 });
  assertEquals(rows.get("read"), { seconds: 3, check: 256 });
});

Deno.test("parseGuestRows fails with the guest's error, or when the guest never finished", () => {
  assertThrows(
    () => parseGuestRows("SHAREFS-ERROR mount of share bench as 'virtiofs' failed\nboom"),
    Error,
    "failed: mount of share bench as 'virtiofs' failed",
  );
  assertThrows(() => parseGuestRows("SHAREFS-ROW find 1 2 3\n"), Error, "never finished");
  assertThrows(
    () => parseGuestRows("SHAREFS-ROW find 9 2 3\nSHAREFS-DONE"),
    Error,
    "ends (2) before it starts (9)",
  );
});

Deno.test("checkedRun keeps the expected rows and refuses a wrong count or a missing row", () => {
  const want = expectedChecks(400);
  assertEquals(want.find, 10001);
  assertEquals(want.untar, 401);
  const run = checkedRun(parseGuestRows(CONSOLE), want);
  assertEquals(Object.keys(run).sort(), [
    "create",
    "find",
    "read",
    "remove",
    "stat",
    "untar",
    "write",
  ]);
  assertEquals(run.find, 0.18);
  assertThrows(
    () => checkedRun(parseGuestRows(CONSOLE), expectedChecks(12)),
    Error,
    "untar checked 401",
  );
  const partial = CONSOLE.replace(/^SHAREFS-ROW stat.*$/m, "");
  assertThrows(() => checkedRun(parseGuestRows(partial), want), Error, "no stat row");
});

Deno.test("the guest's init mounts the share by the kernel command line's choice", () => {
  assertEquals(SHAREFS_INIT.includes("mount -t virtiofs bench /mnt"), true);
  assertEquals(SHAREFS_INIT.includes("mount -t 9p -o trans=virtio"), true);
  assertEquals(SHAREFS_INIT.includes("drop_caches"), true);
  // busybox's dd reports records, not bytes: the read row counts whole 1 MiB records.
  assertEquals(SHAREFS_INIT.includes("s/+.* records in$//p"), true);
});
