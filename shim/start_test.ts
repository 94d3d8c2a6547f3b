import { assertEquals, assertRejects } from "../tests/assert.ts";
import { InvalidArgumentError } from "../common/errors.ts";
import { exists } from "../common/fs.ts";
import { start, startAnswer } from "./start.ts";
import type { Invocation } from "./options.ts";

function invocation(flags: Partial<Invocation["flags"]>): Invocation {
  return { flags: { ...flags } as Invocation["flags"], action: "start", args: [] };
}

Deno.test("start: -id, -namespace and -address are required", async () => {
  const full = { id: "x", namespace: "ns", address: "/run/containerd/containerd.sock" };
  for (const missing of ["id", "namespace", "address"] as const) {
    const flags = { ...full, [missing]: "" };
    await assertRejects(() => start(invocation(flags)), InvalidArgumentError, `-${missing}`);
  }
});

Deno.test("start: a bundle whose config.json is not JSON is refused, naming it", async () => {
  const bundle = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${bundle}/config.json`, "{not json");
    const flags = { id: "x", namespace: "ns", address: "/run/c.sock", bundle };
    await assertRejects(
      () => start(invocation(flags)),
      InvalidArgumentError,
      `${bundle}/config.json is not valid JSON`,
    );
  } finally {
    await Deno.remove(bundle, { recursive: true });
  }
});

Deno.test("startAnswer: the bare address unless containerd 2.x is the publisher", () => {
  const a = "unix:///run/containerd/s/abc";
  assertEquals(startAnswer(a, undefined), a);
  assertEquals(startAnswer(a, "/nonexistent/containerd"), a);
  // Deno's own binary is no containerd: the answer every release reads.
  assertEquals(startAnswer(a, Deno.execPath()), a);
});

const CONTAINERD_2 = new URL("../.cache/peers/containerd-2.1/usr/bin/containerd", import.meta.url)
  .pathname;

Deno.test({
  name: "startAnswer: containerd 2.x gets the JSON bootstrap answer, protocol version 3",
  // scripts/install-deps unpacks containerd 2.1 there.
  ignore: !exists(CONTAINERD_2),
  fn() {
    const a = "unix:///run/containerd/s/abc";
    assertEquals(JSON.parse(startAnswer(a, CONTAINERD_2)), {
      version: 3,
      address: a,
      protocol: "ttrpc",
    });
  },
});
