import { assertEquals, assertMatch } from "../tests/assert.ts";
import { containerKind, socketAddress, socketPath } from "./address.ts";

Deno.test("address: sha256 of address/namespace/id under /run/containerd/s", async () => {
  const a = socketAddress("/run/containerd/containerd.sock", "default", "c1");
  assertMatch(a, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
  // Same digest as Go's sha256.Sum256([]byte(filepath.Join(addr, ns, id))).
  const want = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode("/run/containerd/containerd.sock/default/c1"),
    ),
  );
  assertEquals(
    socketPath(a).split("/").pop(),
    [...want].map((b) => b.toString(16).padStart(2, "0")).join(""),
  );
  assertEquals(socketAddress("/a//b/", "ns", "x"), socketAddress("/a/b", "ns", "x"));
});

Deno.test("address: CRI and CRI-O annotations decide the container kind", () => {
  assertEquals(containerKind(undefined), { kind: "single" });
  assertEquals(containerKind({ "io.kubernetes.cri.container-type": "sandbox" }), {
    kind: "sandbox",
  });
  assertEquals(
    containerKind({
      "io.kubernetes.cri.container-type": "container",
      "io.kubernetes.cri.sandbox-id": "sb",
    }),
    { kind: "pod-container", sandboxId: "sb" },
  );
  assertEquals(
    containerKind({
      "io.kubernetes.cri-o.ContainerType": "container",
      "io.kubernetes.cri-o.SandboxID": "sb2",
    }),
    { kind: "pod-container", sandboxId: "sb2" },
  );
});
