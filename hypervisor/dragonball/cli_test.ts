import { assertEquals, assertRejects, assertThrows } from "../../tests/assert.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { parseDrive, parseShare, vmmCommand } from "./cli.ts";

Deno.test("vmm: --drive values", () => {
  assertEquals(parseDrive("/d.img"), { path: "/d.img", readOnly: false });
  assertEquals(parseDrive("/d.img,ro"), { path: "/d.img", readOnly: true });
  assertThrows(() => parseDrive(",ro"), InvalidArgumentError, "names no file");
  assertThrows(() => parseDrive("/d.img,cache=none"), InvalidArgumentError, "not supported");
});

Deno.test("vmm: bad command lines fail clearly before any VM exists", async () => {
  await assertRejects(() => vmmCommand([]), InvalidArgumentError, "--kernel");
  await assertRejects(
    () => vmmCommand(["--kernel", "/nonexistent/vmlinux"]),
    InvalidArgumentError,
    "Cannot read kernel /nonexistent/vmlinux",
  );
  await assertRejects(
    () => vmmCommand(["--kernel", "/etc/hostname", "--boot", "bios"]),
    InvalidArgumentError,
    "Boot protocol",
  );
  await assertRejects(() => vmmCommand(["--kernel", "k", "extra"]), InvalidArgumentError);
});

Deno.test("vmm: a missing /dev/kvm is reported and the devices opened for it are released", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kernel = `${dir}/vmlinux`;
    await Deno.writeFile(kernel, new Uint8Array(4096).fill(1));
    await Deno.writeFile(`${dir}/disk.img`, new Uint8Array(4096));
    const args = [
      "--kernel",
      kernel,
      "--drive",
      `${dir}/disk.img,ro`,
      "--vsock-uds",
      `${dir}/v.sock`,
    ];
    if (await Deno.stat("/dev/kvm").then(() => true, () => false)) {
      // With KVM the image is what fails: not a kernel.
      await assertRejects(() => vmmCommand(args), Error, "neither an ELF vmlinux nor a bzImage");
    } else {
      await assertRejects(() => vmmCommand(args), Error, "/dev/kvm");
    }
    // The vsock listener was closed and its socket removed.
    assertEquals(await Deno.stat(`${dir}/v.sock`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vmm -h prints the flags and succeeds", async () => {
  const log = console.log;
  let text = "";
  console.log = (s: string) => text += s;
  try {
    assertEquals(await vmmCommand(["-h"]), 0);
  } finally {
    console.log = log;
  }
  assertEquals(text.includes("-vsock-uds"), true);
});

Deno.test("vmm --share parses TAG=DIR[,ro] and refuses the rest", () => {
  assertEquals(parseShare("kataShared=/srv/x"), {
    tag: "kataShared",
    dir: "/srv/x",
    readOnly: false,
  });
  assertEquals(parseShare("t=/d,ro").readOnly, true);
  assertThrows(() => parseShare("=/d"), InvalidArgumentError, "TAG=DIR");
  assertThrows(() => parseShare("tag"), InvalidArgumentError, "TAG=DIR");
  assertThrows(() => parseShare("t=/d,cache"), InvalidArgumentError, "cache");
  assertThrows(() => parseShare("t=/d,cache=auto"), InvalidArgumentError, "cache=auto");
  assertEquals(parseShare("t=/d,cache=auto,ro", true), {
    tag: "t",
    dir: "/d",
    readOnly: true,
    cache: "auto",
  });
});
