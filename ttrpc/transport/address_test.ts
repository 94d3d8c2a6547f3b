import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { InvalidArgumentError } from "../../common/errors.ts";
import { formatSocketAddress, parseSocketAddress } from "./address.ts";

Deno.test("parseSocketAddress() reads unix, hvsock and vsock addresses", () => {
  assertEquals(parseSocketAddress("unix:///run/x.sock"), { kind: "unix", path: "/run/x.sock" });
  assertEquals(parseSocketAddress("hvsock:///run/vc/kata.hvsock:1024"), {
    kind: "hvsock",
    path: "/run/vc/kata.hvsock",
    port: 1024,
  });
  assertEquals(parseSocketAddress("vsock://3:1024"), { kind: "vsock", cid: 3, port: 1024 });
  assertEquals(parseSocketAddress("vsock://-1:1024"), {
    kind: "vsock",
    cid: 0xffffffff,
    port: 1024,
  });
  for (const a of ["unix:///a", "hvsock:///b:1", "vsock://4:5"]) {
    assertEquals(formatSocketAddress(parseSocketAddress(a)), a);
  }
});

Deno.test("parseSocketAddress() names the address and the problem", () => {
  assertThrows(() => parseSocketAddress("/run/x.sock"), InvalidArgumentError, "missing scheme");
  assertThrows(() => parseSocketAddress("tcp://1:2"), InvalidArgumentError, "unknown scheme tcp");
  assertThrows(() => parseSocketAddress("vsock://3"), InvalidArgumentError, "missing port");
  assertThrows(() => parseSocketAddress("vsock://x:3"), InvalidArgumentError, "cid x is not a u32");
  assertThrows(
    () => parseSocketAddress("hvsock:///p:99999999999"),
    InvalidArgumentError,
    "port 99999999999 is not a u32",
  );
});
