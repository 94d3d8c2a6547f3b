import { assertEquals, assertThrows } from "../tests/assert.ts";
import { FfiError } from "./errors.ts";
import { inChildNamespaces } from "./namespaces.ts";

Deno.test("namespaces: a hostname the kernel cannot take is refused before any change", () => {
  const before = Deno.readLinkSync("/proc/thread-self/ns/uts");
  for (const hostname of ["", "h".repeat(65)]) {
    let ran = false;
    const err = assertThrows(
      () =>
        inChildNamespaces(
          { netns: "", newIpc: false, hostname, newPid: false },
          () => (ran = true),
        ),
      FfiError,
    );
    assertEquals(err.message, `Hostname ${JSON.stringify(hostname)} must be 1 to 64 bytes`);
    assertEquals(ran, false);
  }
  assertEquals(Deno.readLinkSync("/proc/thread-self/ns/uts"), before);
});

Deno.test("namespaces: with nothing asked, the function runs where the thread is", () => {
  const before = Deno.readLinkSync("/proc/thread-self/ns/net");
  const seen = inChildNamespaces(
    { netns: "", newIpc: false, newPid: false },
    () => Deno.readLinkSync("/proc/thread-self/ns/net"),
  );
  assertEquals(seen, before);
});
