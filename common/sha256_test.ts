import { assertEquals } from "../tests/assert.ts";
import { sha256 } from "./sha256.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sha256 matches the FIPS 180-2 vectors and WebCrypto on every padding boundary", async () => {
  const enc = new TextEncoder();
  assertEquals(
    hex(sha256(enc.encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assertEquals(
    hex(sha256(new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  // Lengths around the 55/56/64-byte padding edges, and two blocks and more.
  for (const n of [1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 200, 1000]) {
    const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    const want = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    assertEquals(hex(sha256(data)), hex(want), `length ${n}`);
  }
});
