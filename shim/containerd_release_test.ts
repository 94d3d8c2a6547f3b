import { assertEquals } from "../tests/assert.ts";
import { containerdMajor } from "./containerd_release.ts";

Deno.test("containerdMajor: undefined for what is no containerd", async () => {
  assertEquals(containerdMajor("/nonexistent/containerd"), undefined);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/script`, "#!/bin/sh\necho containerd\n");
    assertEquals(containerdMajor(`${dir}/script`), undefined);
    // An ELF header that lies about its section table must not throw.
    const elf = new Uint8Array(64);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
    new DataView(elf.buffer).setBigUint64(0x28, 1n << 40n, true);
    new DataView(elf.buffer).setUint16(0x3a, 64, true);
    new DataView(elf.buffer).setUint16(0x3c, 3, true);
    await Deno.writeFile(`${dir}/elf`, elf);
    assertEquals(containerdMajor(`${dir}/elf`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Deno is a Rust program: an ELF without Go build info.
  assertEquals(containerdMajor(Deno.execPath()), undefined);
});

Deno.test("containerdMajor: containerd 1.x and 2.x binaries where installed", async (t) => {
  const repo = new URL("../", import.meta.url).pathname;
  const cases: [string, number][] = [
    ["/usr/bin/containerd", 1],
    [`${repo}.cache/peers/containerd-1.7/usr/bin/containerd`, 1],
    [`${repo}.cache/peers/containerd-2.1/usr/bin/containerd`, 2],
  ];
  for (const [path, major] of cases) {
    const present = await Deno.stat(path).then(() => true, () => false);
    await t.step({
      name: path,
      ignore: !present,
      fn: () => assertEquals(containerdMajor(path), major),
    });
  }
});
