import { InvalidArgumentError } from "../../common/errors.ts";
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { GuestMemory, GuestMemoryError } from "./memory.ts";
import { FailedPreconditionError } from "../../common/errors.ts";
import { SysError } from "../../ffi/errno.ts";

Deno.test("guest memory: accessors work inside a region and refuse anything outside", () => {
  const mem = GuestMemory.fromBuffers([[0, 0x1000], [0x10000, 0x1000]]);
  mem.setU32(0x10ffc, 0xdeadbeef);
  assertEquals(mem.u32(0x10ffc), 0xdeadbeef);
  mem.setU64(0x8, 0x1234_5678_9abcn);
  assertEquals(mem.u64(0x8), 0x1234_5678_9abc);
  assertThrows(() => mem.u32(0xffe), GuestMemoryError); // straddles the region end
  assertThrows(() => mem.slice(0x1000, 1), GuestMemoryError); // the gap
  assertThrows(() => mem.slice(-1, 1), GuestMemoryError);
  assertThrows(() => mem.slice(0x10000, 0x1001), GuestMemoryError);
  assert(mem.contains(0x10000, 0x1000));
  assert(!mem.contains(0xfff, 2));
  assertEquals(mem.size, 0x2000);
});

Deno.test("guest memory: mapped memory is zeroed, writable and unmapped once", () => {
  const mem = GuestMemory.allocate(2 * 1024 * 1024);
  assertEquals(mem.u64(0x100000), 0);
  mem.write(0x1ffff0, new Uint8Array([1, 2, 3]));
  assertEquals([...mem.read(0x1ffff0, 3)], [1, 2, 3]);
  assert(mem.regions[0].hostAddr !== 0n);
  mem.close();
  mem.close();
  assertThrows(() => mem.u8(0), Error, "unmapped");
});

Deno.test("guest memory: bad sizes are refused", () => {
  assertThrows(() => GuestMemory.allocate(1000), InvalidArgumentError);
  assertThrows(() => GuestMemory.allocate(0), InvalidArgumentError);
});

Deno.test("guest memory: zero() clears unless the caller vouches the range is fresh", () => {
  const mem = GuestMemory.fromBuffers([[0, 0x1000]]);
  assertEquals(mem.pristine, true);
  mem.write(0x10, new Uint8Array([7, 7]));
  assertEquals(mem.pristine, false);
  mem.zero(0x10, 1, true);
  assertEquals(mem.u8(0x10), 7);
  mem.zero(0x10, 2);
  assertEquals(mem.u16(0x10), 0);
  assertThrows(() => mem.zero(0xfff, 2), GuestMemoryError);
});

Deno.test("memory file: a shared map writes the file; private maps keep their writes to themselves", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "memfile-" });
  const path = `${dir}/memory`;
  const size = 1 << 20;
  try {
    const template = GuestMemory.fromFile(size, { path, mode: "shared" });
    assertEquals(template.pristine, true);
    template.write(0x1000, new TextEncoder().encode("template"));
    template.close();
    assertEquals(
      new TextDecoder().decode(Deno.readFileSync(path).subarray(0x1000, 0x1008)),
      "template",
    );

    const a = GuestMemory.fromFile(size, { path, mode: "private" });
    const b = GuestMemory.fromFile(size, { path, mode: "private" });
    assertEquals(a.pristine, false, "a clone's RAM is not zero");
    a.write(0x1000, new TextEncoder().encode("clone-a!"));
    assertEquals(new TextDecoder().decode(b.read(0x1000, 8)), "template");
    assertEquals(
      new TextDecoder().decode(Deno.readFileSync(path).subarray(0x1000, 0x1008)),
      "template",
    );
    assertEquals(a.fileProblem(), undefined);
    // Another process about to truncate the file: the lease says so, and it waits for the close.
    const truncate = new Deno.Command("sh", { args: ["-c", `: >'${path}'`] }).spawn();
    let problem: string | undefined;
    for (let i = 0; i < 250 && !problem; i++) {
      await new Promise((r) => setTimeout(r, 20));
      problem = a.fileProblem();
    }
    assertEquals(problem, `Memory file ${path} is being truncated or written by another process`);
    assertEquals(Deno.statSync(path).size, size, "the truncation waits for the lease");
    a.close();
    b.close();
    assertEquals((await truncate.status).code, 0);
    assertEquals(Deno.statSync(path).size, 0);
    const e = assertThrows(
      () => GuestMemory.fromFile(size, { path, mode: "private" }),
      FailedPreconditionError,
    );
    assertEquals(e.message, `Memory file ${path} is 0 bytes, want ${size} (truncated or replaced)`);

    // Without a lease (a writer had the file open), the size check still sees a truncation.
    Deno.truncateSync(path, size);
    const writer = Deno.openSync(path, { write: true });
    const c = GuestMemory.fromFile(size, { path, mode: "private" });
    writer.truncateSync(4096);
    writer.close();
    assertEquals(
      c.fileProblem(),
      `Memory file ${path} was truncated to 4096 bytes under the VM (want ${size})`,
    );
    c.close();
    Deno.removeSync(path);
    assertThrows(() => GuestMemory.fromFile(size, { path, mode: "private" }), SysError, path);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
