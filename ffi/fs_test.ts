import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { makedev, mknod, statfs } from "./fs.ts";
import { SysError } from "./errno.ts";

Deno.test("statfs reports the file system of a temporary directory", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const s = statfs(dir);
    assert(s.blockSize > 0, "block size is positive");
    assert(s.blocks >= s.blocksFree, "free blocks do not exceed the total");
    assert(s.nameMax >= 255, "names of 255 bytes are allowed");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("statfs of a missing path fails with ENOENT", () => {
  const e = assertThrows(() => statfs("/no/such/path/here"), SysError);
  assertEquals((e as SysError).errno, 2);
});

Deno.test("mknod makes a FIFO", () => {
  const dir = Deno.makeTempDirSync();
  try {
    mknod(`${dir}/fifo`, 0o010644);
    assert(Deno.lstatSync(`${dir}/fifo`).isFifo, "the node is a FIFO");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("makedev encodes major and minor like glibc", () => {
  assertEquals(makedev(8, 1), 0x801n);
  assertEquals(makedev(259, 65536), 0x1001_0300n);
});
