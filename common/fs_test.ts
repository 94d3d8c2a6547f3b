import { assertEquals } from "../tests/assert.ts";
import { exists, isBlockDevice, splitRdev } from "./fs.ts";

Deno.test("exists: a file and a directory exist, a missing path and a dangling link do not", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    Deno.symlinkSync(`${dir}/missing`, `${dir}/dangling`);
    assertEquals(
      [exists(dir), exists(`${dir}/f`), exists(`${dir}/missing`), exists(`${dir}/dangling`)],
      [true, true, false, false],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dev_t splits like glibc", () => {
  assertEquals(splitRdev(0xfe01), { major: 0xfe, minor: 1 });
  assertEquals(splitRdev(259 * 256 + 3), { major: 259, minor: 3 });
  // /dev/null is 1:3
  assertEquals(splitRdev(0x103), { major: 1, minor: 3 });
  // Minor bits above 8 sit at 20 and up; major bits above 12 at 44 and up.
  assertEquals(splitRdev(0x100123), { major: 1, minor: 0x123 });
  assertEquals(splitRdev(2 ** 32 * 0x1000 + 0x0100), { major: 4097, minor: 0 });
});

Deno.test("isBlockDevice: a file, a directory and a missing path are not block devices", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    assertEquals([isBlockDevice(`${dir}/f`), isBlockDevice(dir), isBlockDevice(`${dir}/no`)], [
      false,
      false,
      false,
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
